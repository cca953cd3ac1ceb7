package opa

import (
	"strings"
	"testing"
	"time"
)

func TestSlackSummaryTime(t *testing.T) {
	t.Parallel()
	window := WindowSettings{Timezone: "Asia/Kolkata", GoNoGo: "16:00", Weekdays: []string{"Monday", "Tuesday", "Wednesday", "Thursday", "Friday"}}
	ist, err := time.LoadLocation("Asia/Kolkata")
	if err != nil {
		t.Fatal(err)
	}
	monday := time.Date(2024, 5, 6, 5, 0, 0, 0, time.UTC) // 10:30 IST
	tests := []struct {
		name   string
		s      Settings
		now    time.Time
		want   time.Time
		wantOK bool
	}{
		{name: "go_nogo by default", s: Settings{Window: window}, now: monday, want: time.Date(2024, 5, 6, 16, 0, 0, 0, ist), wantOK: true},
		{name: "summary_at", s: Settings{Window: window, Slack: SlackSettings{SummaryAt: "15:45"}}, now: monday, want: time.Date(2024, 5, 6, 15, 45, 0, 0, ist), wantOK: true},
		// 20:00 UTC on Monday is 01:30 IST on Tuesday: Tuesday's summary.
		{name: "the window's day, not UTC's", s: Settings{Window: window}, now: monday.Add(15 * time.Hour), want: time.Date(2024, 5, 7, 16, 0, 0, 0, ist), wantOK: true},
		{name: "Saturday", s: Settings{Window: window}, now: monday.Add(5 * 24 * time.Hour)},
		{name: "off", s: Settings{Window: window, Slack: SlackSettings{SummaryAt: "off"}}, now: monday},
		{name: "no time at all", s: Settings{}, now: monday},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, ok := tt.s.Summary(tt.now)
			if ok != tt.wantOK || (ok && !got.Equal(tt.want)) {
				t.Errorf("Summary(%s) = %s %v, want %s %v", tt.now, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestSlackSettingsDecode(t *testing.T) {
	t.Parallel()
	s, err := decodeSettings(map[string]any{"release": map[string]any{"slack": map[string]any{
		"users": map[string]any{"U1": "qa-frank", "U2": ""}, "team": "T1", "summary_at": "16:05"}}}, "rev")
	if err != nil {
		t.Fatal(err)
	}
	if login, ok := s.Slack.Voter("U1"); !ok || login != "qa-frank" {
		t.Errorf("U1 votes as %q %v", login, ok)
	}
	for _, u := range []string{"U2", "U3", ""} {
		if login, ok := s.Slack.Voter(u); ok {
			t.Errorf("%q votes as %q", u, login)
		}
	}
	for _, bad := range []map[string]any{
		{"summary_at": "4pm"},
		{"summary_at": "25:00"},
		{"users": []any{"qa-frank"}},
	} {
		_, err := decodeSettings(map[string]any{"release": map[string]any{"slack": bad}}, "rev")
		if err == nil || !strings.Contains(err.Error(), "slack") {
			t.Errorf("slack settings %v: %v, want an error naming slack", bad, err)
		}
	}
}
