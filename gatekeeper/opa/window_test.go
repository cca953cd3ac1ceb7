package opa_test

import (
	"testing"
	"time"

	"github.com/releasegate/gatekeeper/gatekeeper/opa"
)

func TestWindowNextEdge(t *testing.T) {
	t.Parallel()
	ist, err := time.LoadLocation("Asia/Kolkata")
	if err != nil {
		t.Fatal(err)
	}
	w := opa.WindowSettings{Enforce: true, Timezone: "Asia/Kolkata", Weekdays: []string{"Monday", "Tuesday", "Wednesday", "Thursday"},
		Release: "15:00", Close: "17:30"}
	// 2026-12-07 is a Monday.
	at := func(day, h, m int) time.Time { return time.Date(2026, 12, day, h, m, 0, 0, ist) }
	tests := []struct {
		name string
		w    opa.WindowSettings
		now  time.Time
		want time.Time // zero: none
	}{
		{name: "before the opening", w: w, now: at(7, 9, 0), want: at(7, 15, 0)},
		{name: "at the opening the close is next", w: w, now: at(7, 15, 0), want: at(7, 17, 30)},
		{name: "inside the window", w: w, now: at(7, 17, 29), want: at(7, 17, 30)},
		{name: "after the close the next day's opening", w: w, now: at(7, 17, 30), want: at(8, 15, 0)},
		{name: "Thursday evening: Monday", w: w, now: at(10, 18, 0), want: at(14, 15, 0)},
		{name: "a UTC clock is read in the window's zone", w: w, now: at(7, 17, 0).UTC(), want: at(7, 17, 30)},
		{name: "not enforced: edges all the same", w: func() opa.WindowSettings { w := w; w.Enforce = false; return w }(), now: at(7, 9, 0), want: at(7, 15, 0)},
		{name: "no weekdays", w: opa.WindowSettings{Timezone: "UTC", Release: "10:00", Close: "11:00"}, now: at(7, 9, 0)},
		{name: "release after close", w: opa.WindowSettings{Timezone: "UTC", Weekdays: []string{"Monday"}, Release: "12:00", Close: "11:00"}, now: at(7, 9, 0)},
		{name: "malformed time", w: opa.WindowSettings{Timezone: "UTC", Weekdays: []string{"Monday"}, Release: "9:00", Close: "11:00"}, now: at(7, 9, 0)},
		{name: "unknown zone", w: opa.WindowSettings{Timezone: "Mars/Olympus", Weekdays: []string{"Monday"}, Release: "09:00", Close: "11:00"}, now: at(7, 9, 0)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, ok := tc.w.NextEdge(tc.now)
			if ok != !tc.want.IsZero() || !got.Equal(tc.want) {
				t.Errorf("NextEdge(%s) = %s, %v; want %s", tc.now, got, ok, tc.want)
			}
		})
	}
}
