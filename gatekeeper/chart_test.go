package gatekeeper

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseChartVersion(t *testing.T) {
	t.Parallel()
	tests := []struct {
		v    string
		want Chart
		ok   bool
	}{
		{"payments-2-14-3-1a2b3c4", Chart{"payments-2-14-3-1a2b3c4", "payments", "2", "14", "3", "1a2b3c4"}, true},
		{"payments-api-0-1-12-ec26c3e57ca3a959ca5aad62de7213c562f8c821", Chart{"payments-api-0-1-12-ec26c3e57ca3a959ca5aad62de7213c562f8c821", "payments-api", "0", "1", "12", "ec26c3e57ca3a959ca5aad62de7213c562f8c821"}, true},
		{"payments-2.14.3-1a2b3c4", Chart{Version: "payments-2.14.3-1a2b3c4"}, false},
		{"payments-2-14-3", Chart{Version: "payments-2-14-3"}, false},
		{"payments-2-14-3-1a2b3c", Chart{Version: "payments-2-14-3-1a2b3c"}, false},     // sha too short
		{"Payments-2-14-3-1a2b3c4", Chart{Version: "Payments-2-14-3-1a2b3c4"}, false},   // not a chart name
		{"payments-02-14-3-1a2b3c4", Chart{Version: "payments-02-14-3-1a2b3c4"}, false}, // leading zero
		{"", Chart{}, false},
	}
	for _, tc := range tests {
		got, ok := ParseChartVersion(tc.v)
		if ok != tc.ok {
			t.Errorf("%q: ok %v, want %v", tc.v, ok, tc.ok)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%q (-want +got):\n%s", tc.v, diff)
		}
	}
	c, _ := ParseChartVersion("payments-2-14-3-1a2b3c4")
	if !c.PinnedTo("", "1a2b3c4d5e6f") || c.PinnedTo("ffffffff") || (Chart{SHA: "1a2"}).PinnedTo("1a2b3c4") {
		t.Error("PinnedTo")
	}
}

func FuzzParseChartVersion(f *testing.F) {
	f.Add("payments-api-2-14-3-1a2b3c4")
	f.Fuzz(func(t *testing.T, v string) {
		c, ok := ParseChartVersion(v)
		if ok && (c.Module+"-"+c.Major+"-"+c.Minor+"-"+c.Release+"-"+c.SHA != v) {
			t.Fatalf("parts %+v do not make %q", c, v)
		}
	})
}
