package opa

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/rego"
)

func jsonNumber(s string) json.Number { return json.Number(s) }

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestDecodeResultSetShapes covers result sets no single-document query
// produces today, but which decode must still refuse.
func TestDecodeResultSetShapes(t *testing.T) {
	t.Parallel()
	ok := map[string]any{"state": "pending", "reasons": []any{}, "waiting": []any{"x"}, "channel": nil}
	tests := []struct {
		name    string
		rs      rego.ResultSet
		wantErr string
	}{
		{"no result", rego.ResultSet{}, "undefined"},
		{"two results", rego.ResultSet{{Expressions: []*rego.ExpressionValue{{Value: ok}}}, {Expressions: []*rego.ExpressionValue{{Value: ok}}}}, "2 results"},
		{"two expressions", rego.ResultSet{{Expressions: []*rego.ExpressionValue{{Value: ok}, {Value: ok}}}}, "2 expressions"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d, err := decode(tt.rs)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || d.State != "" {
				t.Errorf("decode = %+v, %v; want no decision and an error containing %q", d, err, tt.wantErr)
			}
		})
	}
	d, err := decode(rego.ResultSet{{Expressions: []*rego.ExpressionValue{{Value: ok}}}})
	if err != nil || d.State != "pending" || len(d.Waiting) != 1 {
		t.Errorf("decode of a well-formed decision = %+v, %v", d, err)
	}
}
