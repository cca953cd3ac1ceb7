package opa

import (
	"regexp"
	"slices"
	"time"
)

// hhmm is window.rego's HH:MM.
var hhmm = regexp.MustCompile(`^([01][0-9]|2[0-3]):[0-5][0-9]$`)

// NextEdge returns the first time after now at which the release window
// opens or closes, as window.rego reads these settings: on a release
// weekday, at release and at close, in timezone. It returns false when
// the settings do not make a window (the policy then reports the data
// error, and no time changes the decision). Enforce is not looked at: the
// policy enforces a window the data leaves out, which Settings cannot tell
// from enforce: false, and an edge too many costs one evaluation.
func (w WindowSettings) NextEdge(now time.Time) (time.Time, bool) {
	if w.Timezone == "" || !hhmm.MatchString(w.Release) || !hhmm.MatchString(w.Close) || w.Release >= w.Close {
		return time.Time{}, false
	}
	loc, err := time.LoadLocation(w.Timezone)
	if err != nil {
		return time.Time{}, false
	}
	opens, _ := time.Parse("15:04", w.Release)
	closes, _ := time.Parse("15:04", w.Close)
	local := now.In(loc)
	for k := range 8 { // today and a week on: every weekday once
		day := time.Date(local.Year(), local.Month(), local.Day()+k, 0, 0, 0, 0, loc)
		if !slices.Contains(w.Weekdays, day.Weekday().String()) {
			continue
		}
		for _, at := range []time.Time{opens, closes} {
			edge := time.Date(day.Year(), day.Month(), day.Day(), at.Hour(), at.Minute(), 0, 0, loc)
			if edge.After(now) {
				return edge, true
			}
		}
	}
	return time.Time{}, false
}
