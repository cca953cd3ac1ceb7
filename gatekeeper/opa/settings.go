package opa

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// DefaultEvalTimeout is how long one evaluation may take when neither the
// policy data (release.evaluation.timeout) nor WithEvalTimeout says: the
// real policy decides in well under a millisecond, so a second is
// generous, and a policy that takes longer holds a worker that other pull
// requests wait for.
const DefaultEvalTimeout = time.Second

// DefaultReloadTimeout is how long loading one revision may take, its
// smoke evaluation and its own tests included, unless WithReloadTimeout
// says otherwise.
const DefaultReloadTimeout = 2 * time.Minute

// maxEvalTimeout bounds release.evaluation.timeout: a policy must not be
// able to give itself a worker for minutes.
const maxEvalTimeout = time.Minute

// Settings are the release settings of one policy revision
// (data.release in policies/data.yaml), decoded once when the revision
// loads. They let the gatekeeper's own code (the Jenkins stage map, the
// team source) read the data in force without walking untyped maps. Only
// the settings that Go code reads are here; the Rego reads the rest. The
// zero value is what a folder that never loaded gives.
//
// Slices are shared by every caller of Engine.Settings: never change them.
type Settings struct {
	// Revision is the short revision these settings come from.
	Revision   string             `json:"-"`
	Build      BuildSettings      `json:"build"`
	Approvals  ApprovalSettings   `json:"approvals"`
	Votes      VoteSettings       `json:"votes"`
	Window     WindowSettings     `json:"window"`
	Evaluation EvaluationSettings `json:"evaluation"`
	Slack      SlackSettings      `json:"slack"`
}

// SlackSettings is release.slack: who may vote with the Slack buttons,
// and when the daily Go/NoGo summary is posted.
type SlackSettings struct {
	// Users maps Slack user ids (U…, W…) to GitHub logins: the only way a
	// Slack button press becomes someone's vote. The Slack profile is not
	// used: its fields are edited by the user themselves.
	Users map[string]string `json:"users"`
	// Team, when set, is the Slack workspace id (T…) whose users these
	// are; a request from another workspace is refused.
	Team string `json:"team"`
	// SummaryAt is when the daily summary is posted (HH:MM in
	// window.timezone, on window.weekdays); "" means window.go_nogo, and
	// "off" posts none.
	SummaryAt string `json:"summary_at"`
}

// Voter returns the GitHub login the policy data maps Slack user id to,
// and false when it maps none.
func (s SlackSettings) Voter(slackUser string) (string, bool) {
	login, ok := s.Users[slackUser]
	return login, ok && login != ""
}

// Summary returns when the daily Go/NoGo summary is due on the day of
// now, in the window's time zone: the time, and false when none is due
// that day (not a window weekday, summaries off, or a setting that does
// not parse).
func (s Settings) Summary(now time.Time) (time.Time, bool) {
	at := s.Slack.SummaryAt
	if at == "" {
		at = s.Window.GoNoGo
	}
	if at == "" || at == "off" {
		return time.Time{}, false
	}
	loc := time.UTC
	if s.Window.Timezone != "" {
		l, err := time.LoadLocation(s.Window.Timezone)
		if err != nil {
			return time.Time{}, false
		}
		loc = l
	}
	hm, err := time.Parse("15:04", at)
	if err != nil {
		return time.Time{}, false
	}
	local := now.In(loc)
	if len(s.Window.Weekdays) > 0 {
		ok := false
		for _, d := range s.Window.Weekdays {
			if strings.EqualFold(d, local.Weekday().String()) {
				ok = true
			}
		}
		if !ok {
			return time.Time{}, false
		}
	}
	return time.Date(local.Year(), local.Month(), local.Day(), hm.Hour(), hm.Minute(), 0, 0, loc), true
}

// BuildSettings is release.build.
type BuildSettings struct {
	TrustPipelineReport bool    `json:"trust_pipeline_report"`
	Stages              []Stage `json:"stages"`
}

// Stage is one release stage (release.build.stages[]).
type Stage struct {
	// Key is the release stage (clone, build, unit_tests, …).
	Key string `json:"key"`
	// Display is how status descriptions name it.
	Display string `json:"display"`
	// Jenkins are the Jenkinsfile stage names that make up the stage.
	Jenkins []string `json:"jenkins"`
}

// ApprovalSettings is release.approvals.
type ApprovalSettings struct {
	Roles            []Role `json:"roles"`
	OnePersonOneRole bool   `json:"one_person_one_role"`
}

// Role is one release role (release.approvals.roles[]).
type Role struct {
	ID      string `json:"id"`
	Display string `json:"display"`
	// Team is "org/team-slug", or "".
	Team  string   `json:"team"`
	Users []string `json:"users"`
	// Required is false for a role that approves only when the emergency
	// rule asks for it; absent means true.
	Required *bool `json:"required,omitempty"`
}

// Teams returns the GitHub teams the roles name, in order, without
// duplicates or empty names.
func (a ApprovalSettings) Teams() []string {
	var teams []string
	seen := map[string]bool{}
	for _, r := range a.Roles {
		if r.Team != "" && !seen[r.Team] {
			seen[r.Team] = true
			teams = append(teams, r.Team)
		}
	}
	return teams
}

// VoteSettings is release.votes.
type VoteSettings struct {
	QuorumRoles []string `json:"quorum_roles"`
	VetoRoles   []string `json:"veto_roles"`
}

// WindowSettings is release.window.
type WindowSettings struct {
	Enforce   bool     `json:"enforce"`
	Timezone  string   `json:"timezone"`
	ZoneLabel string   `json:"zone_label"`
	Weekdays  []string `json:"weekdays"`
	GoNoGo    string   `json:"go_nogo"`
	Release   string   `json:"release"`
	Close     string   `json:"close"`
}

// EvaluationSettings is release.evaluation.
type EvaluationSettings struct {
	// Timeout bounds one evaluation; 0: the Engine's default
	// (WithEvalTimeout, else DefaultEvalTimeout).
	Timeout Duration `json:"timeout"`
}

// Duration is a time.Duration written in policy data as a Go duration
// string ("1s", "250ms") or a number of seconds.
type Duration time.Duration

// UnmarshalJSON reads "1s" or 1.
func (d *Duration) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		*d = 0
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("want a duration such as \"1s\": %w", err)
		}
		*d = Duration(v)
		return nil
	}
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return errors.New("want a duration such as \"1s\" or a number of seconds")
	}
	*d = Duration(f * float64(time.Second))
	return nil
}

// decodeSettings reads data.release of the data documents. A setting of
// the wrong type makes the revision not load: the gatekeeper's own code
// would otherwise run on settings other than those the Rego reads.
func decodeSettings(data map[string]any, revision string) (Settings, error) {
	s := Settings{Revision: short(revision)}
	rel, ok := data["release"]
	if !ok || rel == nil {
		return s, nil
	}
	b, err := json.Marshal(rel)
	if err != nil {
		return s, fmt.Errorf("release settings: %w", err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("release settings: %s", jsonPath(err))
	}
	if at := s.Slack.SummaryAt; at != "" && at != "off" {
		if _, err := time.Parse("15:04", at); err != nil {
			return s, fmt.Errorf("release settings: slack.summary_at %q, want HH:MM or \"off\"", at)
		}
	}
	if t := time.Duration(s.Evaluation.Timeout); t < 0 || t > maxEvalTimeout {
		return s, fmt.Errorf("release settings: evaluation.timeout %s, want more than 0s and at most %s", t, maxEvalTimeout)
	}
	return s, nil
}

// jsonPath says which setting a decoding error is about, in the words of
// data.yaml (release.build.stages, not Go type names).
func jsonPath(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("release.%s is a %s, want a %s", te.Field, te.Value, kind(te.Type.Kind().String()))
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

func kind(k string) string {
	switch k {
	case "slice":
		return "list"
	case "struct", "map":
		return "mapping"
	case "int64":
		return "duration"
	}
	return k
}

// Settings returns the release settings of the revision in force, or the
// zero Settings when none is. It is cheap (no decoding) and always reads
// the revision in force, so callers that want the data in force call it
// at every use rather than keeping what it returned.
func (e *Engine) Settings() Settings {
	if st := e.cur.Load(); st.good != nil {
		return st.good.settings
	}
	return Settings{}
}

// evalTimeout is the deadline of one evaluation of p.
func (e *Engine) evalTimeout(p *prepared) time.Duration {
	if t := time.Duration(p.settings.Evaluation.Timeout); t > 0 {
		if e.evalCap > 0 && t > e.evalCap {
			return e.evalCap
		}
		return t
	}
	if e.evalDefault > 0 {
		return e.evalDefault
	}
	return DefaultEvalTimeout
}
