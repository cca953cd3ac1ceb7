package githubevents

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// ErrIgnored is returned (wrapped, naming what was ignored) for deliveries
// the release gatekeeper does not use: event types and actions outside the
// lists below, ping, and comments on issues that are not pull requests.
// The receiver answers them 202 so that GitHub does not record a failure.
var ErrIgnored = errors.New("event not used by the release gatekeeper")

// used reports whether the gatekeeper uses an event type's action. Other
// actions (assigned, review_requested, locked, …) change nothing the policy
// reads; requested_action on a check run is a user pressing one of its
// buttons, not a change of the run.
func used(eventType, action string) bool {
	switch eventType {
	case "pull_request":
		switch action {
		case "opened", "synchronize", "reopened", "edited", "labeled", "unlabeled", "ready_for_review", "converted_to_draft", "closed":
			return true
		}
	case "pull_request_review":
		switch action {
		case "submitted", "edited", "dismissed":
			return true
		}
	case "issue_comment":
		switch action {
		case "created", "edited", "deleted":
			return true
		}
	case "check_run":
		switch action {
		case "created", "completed", "rerequested", "requested_action":
			return true
		}
	case "check_suite":
		// A re-run of the suite (the gatekeeper App's own: GitHub sends an
		// App only its suites' rerequested) asks for an evaluation.
		return action == "rerequested"
	}
	return false
}

// repo names the repository of a payload; nil when it names none, so that
// the Service applies the event to no pull request.
func repo(r *github.Repository) *gatekeeper.Repo {
	if r == nil {
		return nil
	}
	out := &gatekeeper.Repo{ID: r.GetID(), Owner: r.GetOwner().GetLogin(), Name: r.GetName()}
	if out.ID == 0 && (out.Owner == "" || out.Name == "") {
		return nil
	}
	return out
}

// Parse converts one webhook delivery into a domain event named
// "<eventType>.<action>" ("status" has no action). eventType is the
// X-GitHub-Event header and deliveryID the X-GitHub-Delivery header.
//
// It returns an error wrapping ErrIgnored for deliveries the gatekeeper
// does not use, and one wrapping gatekeeper.ErrInvalid for a payload that
// is not JSON or lacks what its event type must carry. A nil error
// promises an event with a valid Key or a non-empty SHA.
func Parse(eventType, deliveryID string, payload []byte) (gatekeeper.Event, error) {
	var (
		e   gatekeeper.Event
		err error
	)
	switch eventType {
	case "pull_request":
		e, err = pullRequestNarrow(payload)
	case "pull_request_review":
		e, err = reviewNarrow(payload)
	case "issue_comment":
		e, err = commentNarrow(payload)
	case "status":
		e, err = statusNarrow(payload)
	case "check_run":
		// Decoded narrowly: go-github refuses the whole delivery over a
		// field the gatekeeper never reads (check_run.app.created_at in
		// GitHub's older "2018-04-25 20:42:10" form).
		e, err = checkRun(payload)
	case "check_suite":
		e, err = checkSuite(payload)
	case "push":
		e, err = push(payload)
	default:
		if !json.Valid(payload) {
			return gatekeeper.Event{}, fmt.Errorf("decoding %s payload: %w", eventType, gatekeeper.ErrInvalid)
		}
		return gatekeeper.Event{}, fmt.Errorf("%s: %w", eventType, ErrIgnored)
	}
	if err != nil {
		return gatekeeper.Event{}, err
	}
	e.Delivery = deliveryID
	return e, nil
}

// ParseDelivery is Parse in the form the webhook receiver takes: a delivery
// the gatekeeper does not use gives used == false and a nil error, so that
// the receiver needs no knowledge of this package's sentinel.
func ParseDelivery(eventType, deliveryID string, payload []byte) (e gatekeeper.Event, used bool, err error) {
	e, err = Parse(eventType, deliveryID, payload)
	if errors.Is(err, ErrIgnored) {
		return gatekeeper.Event{}, false, nil
	}
	if err != nil {
		return gatekeeper.Event{}, false, err
	}
	return e, true, nil
}

// checkRunPayload is the part of a check_run delivery the gatekeeper reads.
type checkRunPayload struct {
	Action   string `json:"action"`
	CheckRun *struct {
		Name        string            `json:"name"`
		HeadSHA     string            `json:"head_sha"`
		Status      string            `json:"status"`
		Conclusion  string            `json:"conclusion"`
		HTMLURL     string            `json:"html_url"`
		StartedAt   *github.Timestamp `json:"started_at"`
		CompletedAt *github.Timestamp `json:"completed_at"`
		Output      struct {
			Title string `json:"title"`
		} `json:"output"`
		App struct {
			Slug string `json:"slug"`
			Name string `json:"name"`
		} `json:"app"`
	} `json:"check_run"`
	Repository *github.Repository `json:"repository"`
}

func checkRun(payload []byte) (gatekeeper.Event, error) {
	var p checkRunPayload
	if err := json.Unmarshal(payload, &p); err != nil {
		return gatekeeper.Event{}, fmt.Errorf("decoding check_run payload: %w: %w", gatekeeper.ErrInvalid, err)
	}
	name := "check_run." + p.Action
	if !used("check_run", p.Action) {
		return gatekeeper.Event{}, fmt.Errorf("%s: %w", name, ErrIgnored)
	}
	cr := p.CheckRun
	if cr == nil {
		return gatekeeper.Event{}, fmt.Errorf("%s: no check_run object: %w", name, gatekeeper.ErrInvalid)
	}
	c := CheckRun(&github.CheckRun{
		Name: &cr.Name, HeadSHA: &cr.HeadSHA, Status: &cr.Status, Conclusion: &cr.Conclusion, HTMLURL: &cr.HTMLURL,
		StartedAt: cr.StartedAt, CompletedAt: cr.CompletedAt,
		Output: &github.CheckRunOutput{Title: &cr.Output.Title},
		App:    &github.App{Slug: &cr.App.Slug, Name: &cr.App.Name},
	})
	if c.SHA == "" || c.Name == "" {
		return gatekeeper.Event{}, fmt.Errorf("%s: no head_sha or name: %w", name, gatekeeper.ErrInvalid)
	}
	r := repo(p.Repository)
	if r == nil {
		return gatekeeper.Event{}, fmt.Errorf("%s: no repository: %w", name, gatekeeper.ErrInvalid)
	}
	// check_run.pull_requests is empty for forks, so the Service routes
	// by sha (within the repository) rather than by the numbers listed.
	return gatekeeper.Event{Name: name, SHA: c.SHA, Check: &c, Repo: r}, nil
}

// checkSuite reads a check_suite delivery: only "rerequested" is used, as
// a request to evaluate the pull requests of its head again. The event
// carries no check: a suite is not one.
func checkSuite(payload []byte) (gatekeeper.Event, error) {
	var p struct {
		Action     string `json:"action"`
		CheckSuite *struct {
			HeadSHA string `json:"head_sha"`
		} `json:"check_suite"`
		Repository *github.Repository `json:"repository"`
	}
	if err := json.Unmarshal(payload, &p); err != nil {
		return gatekeeper.Event{}, fmt.Errorf("decoding check_suite payload: %w: %w", gatekeeper.ErrInvalid, err)
	}
	name := "check_suite." + p.Action
	if !used("check_suite", p.Action) {
		return gatekeeper.Event{}, fmt.Errorf("%s: %w", name, ErrIgnored)
	}
	if p.CheckSuite == nil || p.CheckSuite.HeadSHA == "" {
		return gatekeeper.Event{}, fmt.Errorf("%s: no head_sha: %w", name, gatekeeper.ErrInvalid)
	}
	r := repo(p.Repository)
	if r == nil {
		return gatekeeper.Event{}, fmt.Errorf("%s: no repository: %w", name, gatekeeper.ErrInvalid)
	}
	return gatekeeper.Event{Name: name, SHA: p.CheckSuite.HeadSHA, Repo: r}, nil
}

// pushPayload is the part of a push delivery the gatekeeper reads.
type pushPayload struct {
	Ref        string `json:"ref"`
	Before     string `json:"before"`
	After      string `json:"after"`
	Deleted    bool   `json:"deleted"`
	Repository *struct {
		ID    int64  `json:"id"`
		Name  string `json:"name"`
		Owner struct {
			Login string `json:"login"`
			Name  string `json:"name"`
		} `json:"owner"`
		// PushedAt is a Unix time in push payloads (a string elsewhere).
		PushedAt json.RawMessage `json:"pushed_at"`
	} `json:"repository"`
}

// push turns a push to a branch into a BaseTip event: the Service applies it
// to the open pull requests into that branch, and only when the branch is a
// gated base. Pushes of tags and branch deletions are ignored.
func push(payload []byte) (gatekeeper.Event, error) {
	const name = "push"
	var p pushPayload
	if err := json.Unmarshal(payload, &p); err != nil {
		return gatekeeper.Event{}, fmt.Errorf("decoding push payload: %w: %w", gatekeeper.ErrInvalid, err)
	}
	branch, ok := strings.CutPrefix(p.Ref, "refs/heads/")
	if !ok || branch == "" {
		return gatekeeper.Event{}, fmt.Errorf("%s of %q, not a branch: %w", name, p.Ref, ErrIgnored)
	}
	if p.Deleted || strings.Trim(p.After, "0") == "" {
		return gatekeeper.Event{}, fmt.Errorf("%s deleting %s: %w", name, branch, ErrIgnored)
	}
	if !isSHA(p.After) {
		return gatekeeper.Event{}, fmt.Errorf("%s: after %q is not a commit sha: %w", name, p.After, gatekeeper.ErrInvalid)
	}
	if p.Repository == nil {
		return gatekeeper.Event{}, fmt.Errorf("%s: no repository: %w", name, gatekeeper.ErrInvalid)
	}
	owner := p.Repository.Owner.Login
	if owner == "" {
		// Older push payloads name the owner by "name" only.
		owner = p.Repository.Owner.Name
	}
	r := &gatekeeper.Repo{ID: p.Repository.ID, Owner: owner, Name: p.Repository.Name}
	if r.ID == 0 && (r.Owner == "" || r.Name == "") {
		return gatekeeper.Event{}, fmt.Errorf("%s: no repository: %w", name, gatekeeper.ErrInvalid)
	}
	tip := &gatekeeper.BaseTip{Ref: branch, SHA: strings.ToLower(p.After), At: unixOrRFC3339(p.Repository.PushedAt), Source: "push"}
	if isSHA(p.Before) && strings.Trim(p.Before, "0") != "" {
		tip.Before = strings.ToLower(p.Before)
	}
	return gatekeeper.Event{Name: name, SHA: tip.SHA, Repo: r, BaseTip: tip}, nil
}

// isSHA reports whether s is a 40-digit hexadecimal commit sha.
func isSHA(s string) bool {
	if len(s) != 40 {
		return false
	}
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
			return false
		}
	}
	return true
}

// unixOrRFC3339 reads a time GitHub wrote as Unix seconds or as RFC 3339;
// anything else is the zero time, and the Service then takes the time the
// delivery was received.
func unixOrRFC3339(raw json.RawMessage) time.Time {
	var n int64
	if err := json.Unmarshal(raw, &n); err == nil && n > 0 {
		return time.Unix(n, 0).UTC()
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		if t, err := time.Parse(time.RFC3339, s); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}

// checkPull rejects a snapshot the Service could not file or pin.
func checkPull(name string, pr gatekeeper.PullRequest) error {
	if !pr.Key.Valid() {
		return fmt.Errorf("%s: invalid pull request %q: %w", name, pr.Key, gatekeeper.ErrInvalid)
	}
	if pr.HeadSHA == "" {
		return fmt.Errorf("%s: pull request %s has no head sha: %w", name, pr.Key, gatekeeper.ErrInvalid)
	}
	return nil
}
