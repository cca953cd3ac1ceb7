package test

import (
	"context"
	"errors"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/releasegate/gatekeeper/gatekeeper"
	"github.com/releasegate/gatekeeper/gatekeeper/gatekeepertest"
	"github.com/releasegate/gatekeeper/gatekeeper/opa"
)

// flakySource is a configured evidence source that answers or fails as the
// case says, so that an errored source is a real Gather error.
type flakySource struct {
	name string
	err  error
}

func (s flakySource) Name() string { return s.name }
func (s flakySource) Gather(context.Context, *gatekeeper.Evidence) ([]gatekeeper.Event, error) {
	return nil, s.err
}

// spoil is one way evidence can be missing, stale, foreign, forged or
// errored. Each changes the passing release evidence in place.
type spoil struct {
	kind, name string
	apply      func(ev *gatekeeper.Evidence)
	// source, when set, is the error the jenkins source gives.
	source error
	// at, when set, is the time of the evaluation instead of the window's
	// opening (Friday 17:00 IST).
	at time.Time
	// events are delivered through Service.Accept after the evidence is
	// in, as webhooks would be.
	events []gatekeeper.Event
}

// helloHead is the release's head in releaseEvidence.
const helloHead = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"

// ownCI fails the repository's own CI on the head.
func ownCI(ev *gatekeeper.Evidence) {
	ev.Apply(gatekeeper.Event{Name: "status", SHA: helloHead, Check: &gatekeeper.Check{Name: "ci/build", SHA: helloHead, Kind: "status",
		State: "failure", Description: "tests failed", UpdatedAt: time.Date(2026, 11, 27, 11, 0, 0, 0, time.UTC), Creator: "ci-bot"}})
}

// mirrorCI is another repository's passing status of the same name on the
// same commit (a mirror, an organisation-wide hook), newer than ours.
func mirrorCI(kind string, repo *gatekeeper.Repo) gatekeeper.Event {
	return gatekeeper.Event{Name: kind, SHA: helloHead, Repo: repo, Check: &gatekeeper.Check{Name: "ci/build", SHA: helloHead, Kind: kind,
		State: "success", Description: "all green", UpdatedAt: time.Date(2026, 11, 27, 11, 10, 0, 0, time.UTC), Creator: "ci-bot"}}
}

const (
	olderHead = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c"
	// olderBase and newerBase are master before and after the tip the
	// release's build merged.
	olderBase = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4"
	newerBase = "b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5"
)

func spoils() []spoil {
	// headBuild is the release's own build, the one Jenkins ran, never a
	// build another spoil forged beside it: spoiling a forged build would
	// leave the real one whole, and its pass would be no finding.
	real := releaseEvidence().Builds
	number := real[len(real)-1].Number
	headBuild := func(ev *gatekeeper.Evidence) *gatekeeper.Build {
		for i := range ev.Builds {
			if ev.Builds[i].Number == number {
				return &ev.Builds[i]
			}
		}
		// An earlier spoil took it away.
		return &gatekeeper.Build{Stages: make([]gatekeeper.Stage, 7)}
	}
	return []spoil{
		{kind: "missing", name: "no PR-merge build", apply: func(ev *gatekeeper.Evidence) { ev.Builds = nil }},
		{kind: "missing", name: "no QA approval", apply: func(ev *gatekeeper.Evidence) { dropReview(ev, "qa-carol") }},
		{kind: "missing", name: "no test report", apply: func(ev *gatekeeper.Evidence) { headBuild(ev).Tests = nil }},
		{kind: "missing", name: "no coverage", apply: func(ev *gatekeeper.Evidence) { headBuild(ev).Coverage = nil }},
		{kind: "missing", name: "no vulnerability scan", apply: func(ev *gatekeeper.Evidence) { headBuild(ev).Vulnerabilities = nil }},
		{kind: "missing", name: "a stage absent", apply: func(ev *gatekeeper.Evidence) { b := headBuild(ev); b.Stages = b.Stages[1:] }},
		{kind: "missing", name: "no chart version", apply: func(ev *gatekeeper.Evidence) { headBuild(ev).ChartVersion = "" }},
		{kind: "missing", name: "linked issue unknown to ZenHub", apply: func(ev *gatekeeper.Evidence) {
			for k, c := range ev.IssueChecks {
				c.Found = false
				ev.IssueChecks[k] = c
				break
			}
		}},
		{kind: "stale", name: "build of an older head", apply: func(ev *gatekeeper.Evidence) { headBuild(ev).HeadSHA = olderHead }},
		{kind: "stale", name: "approval on an older head", apply: func(ev *gatekeeper.Evidence) { reviewOn(ev, "sre-dan", olderHead) }},
		{kind: "stale", name: "QA NOGO cast on an older head, never taken back", apply: func(ev *gatekeeper.Evidence) {
			// A second QA member said NOGO before the push: a veto
			// outlives a push.
			first := ev.Heads[0].At
			ev.Heads = append([]gatekeeper.HeadChange{{SHA: olderHead, At: first.Add(-time.Hour)}}, ev.Heads...)
			for _, team := range []string{"releasegate/module-leads", "releasegate/sre", "releasegate/qa", "releasegate/management"} {
				m := gatekeeper.Membership{Team: team, User: "qa-frank", Active: team == "releasegate/qa", CheckedAt: first}
				if ev.Memberships == nil {
					ev.Memberships = map[string]gatekeeper.Membership{}
				}
				ev.Memberships[m.Key()] = m
			}
			at := first.Add(-30 * time.Minute)
			ev.Comments = append(ev.Comments, gatekeeper.Comment{ID: 777, User: "qa-frank", CreatedAt: at, UpdatedAt: at,
				Command: &gatekeeper.Command{Kind: "nogo", Reason: "refunds regress"}})
		}},
		{kind: "stale", name: "build still running", apply: func(ev *gatekeeper.Evidence) {
			b := headBuild(ev)
			b.Result, b.Phase, b.Building = "", "STARTED", true
		}},
		{kind: "foreign", name: "build of another repository's job", apply: func(ev *gatekeeper.Evidence) {
			b := headBuild(ev)
			b.Key = gatekeeper.PullKey{Owner: "mallory", Repo: "Hello-World", Number: 2}
			b.JobPath = "job/mallory/job/Hello-World/job/PR-2-merge"
		}},
		{kind: "stale", name: "build merged an older master", apply: func(ev *gatekeeper.Evidence) {
			headBuild(ev).BaseSHA = olderBase
		}},
		{kind: "stale", name: "master moved since the build", apply: func(ev *gatekeeper.Evidence) {
			ev.BaseTip.SHA, ev.BaseTip.At = newerBase, ev.BaseTip.At.Add(time.Minute)
		}},
		{kind: "stale", name: "tip of master unknown", apply: func(ev *gatekeeper.Evidence) { ev.BaseTip = nil }},
		{kind: "stale", name: "tip known only for another branch", apply: func(ev *gatekeeper.Evidence) {
			if ev.BaseTip != nil {
				ev.BaseTip.Ref = "develop"
			}
		}},
		{kind: "foreign", name: "another repository's status replaces a failing check", apply: ownCI,
			events: []gatekeeper.Event{mirrorCI("status", &gatekeeper.Repo{ID: 4242, Owner: "mirror", Name: "Hello-World"})}},
		{kind: "foreign", name: "a same-named repository's status (another id) replaces a failing check", apply: ownCI,
			events: []gatekeeper.Event{mirrorCI("status", &gatekeeper.Repo{ID: 4243, Owner: "Codertocat", Name: "Hello-World"})}},
		{kind: "foreign", name: "pull request from a fork's staging", apply: func(ev *gatekeeper.Evidence) { ev.PR.HeadRepoID = 99 }},
		{kind: "foreign", name: "head branch of a deleted fork", apply: func(ev *gatekeeper.Evidence) { ev.PR.HeadRepoID = 0 }},
		{kind: "foreign", name: "pull request into master from another branch", apply: func(ev *gatekeeper.Evidence) { ev.PR.HeadRef = "hotfix" }},
		{kind: "foreign", name: "approver not in the role's team", apply: func(ev *gatekeeper.Evidence) {
			m := ev.Memberships
			for k, v := range m {
				if v.User == "qa-carol" {
					v.Active = false
					m[k] = v
				}
			}
		}},
		{kind: "forged", name: "build only the pipeline reported (token-only)", apply: func(ev *gatekeeper.Evidence) {
			headBuild(ev).Verified = false
		}},
		// Claims someone holding the Jenkins token posts, folded in the
		// way a webhook's are: Jenkins contradicts them, and they never
		// change what it stated.
		{kind: "forged", name: "COMPLETED SUCCESS claimed over Jenkins' FAILURE", apply: func(ev *gatekeeper.Evidence) {
			b := headBuild(ev)
			b.Result = "FAILURE"
			claim(ev, gatekeeper.Build{JobPath: b.JobPath, Number: b.Number, Key: b.Key, Phase: "COMPLETED", Result: "SUCCESS"})
		}},
		{kind: "forged", name: "an older head's green build re-pinned by a one-field report", apply: func(ev *gatekeeper.Evidence) {
			b := headBuild(ev)
			b.HeadSHA = olderHead
			claim(ev, gatekeeper.Build{JobPath: b.JobPath, Number: b.Number, Key: b.Key, HeadSHA: ev.HeadSHA()})
		}},
		{kind: "forged", name: "a complete report of a build Jenkins never ran", apply: func(ev *gatekeeper.Evidence) {
			b := *headBuild(ev)
			b.Number, b.Verified, b.Claims = b.Number+5, false, nil
			claim(ev, b)
		}},
		{kind: "forged", name: "chart only claimed for another head", apply: func(ev *gatekeeper.Evidence) {
			b := headBuild(ev)
			b.ChartVersion, b.Claims = "", nil
			claim(ev, gatekeeper.Build{JobPath: b.JobPath, Number: b.Number, Key: b.Key, HeadSHA: olderHead, ChartVersion: "hello-world-2-14-3-1a2b3c4"})
		}},
		{kind: "forged", name: "author approves their own PR", apply: func(ev *gatekeeper.Evidence) { ev.PR.Author = "vp-erin" }},
		{kind: "forged", name: "stage failed, result says success", apply: func(ev *gatekeeper.Evidence) {
			headBuild(ev).Stages[3].Status = "FAILED"
		}},
		{kind: "forged", name: "chart pinned to another commit", apply: func(ev *gatekeeper.Evidence) {
			headBuild(ev).ChartVersion = "hello-world-2-14-3-deadbee"
		}},
		{kind: "errored", name: "Jenkins unreachable", source: errors.New("dial tcp 127.0.0.1:1: connection refused")},
		{kind: "errored", name: "build failed", apply: func(ev *gatekeeper.Evidence) { headBuild(ev).Result = "FAILURE" }},
		// Outside the window (Friday 10:30 IST) with every normal approval:
		// the emergency label alone, or with approvals given before it, or
		// on a release that is not minor, never opens it.
		{kind: "stale", name: "outside the window", at: outsideWindow},
		{kind: "forged", name: "outside the window with only the emergency label", at: outsideWindow, apply: func(ev *gatekeeper.Evidence) {
			label(ev, "emergency-release", time.Date(2026, 11, 27, 4, 0, 0, 0, time.UTC))
		}},
		{kind: "forged", name: "emergency label added after every approval, minor release", at: outsideWindow, apply: func(ev *gatekeeper.Evidence) {
			label(ev, "emergency-release", time.Date(2026, 11, 27, 4, 59, 0, 0, time.UTC))
			b := headBuild(ev)
			b.BaseChartVersion = minorBelow(b.ChartVersion)
		}},
		{kind: "errored", name: "QA vetoes", apply: func(ev *gatekeeper.Evidence) {
			for i := range ev.Comments {
				if ev.Comments[i].User == "qa-carol" {
					// The evidence keeps the command, not the body.
					ev.Comments[i].Command = &gatekeeper.Command{Kind: "nogo", Reason: "integration tests flaky on payments"}
				}
			}
		}},
	}
}

// outsideWindow is Friday 2026-11-27 10:30 IST, hours before the release
// window opens.
var outsideWindow = time.Date(2026, 11, 27, 5, 0, 0, 0, time.UTC)

// label puts name on the pull request, added at t.
func label(ev *gatekeeper.Evidence, name string, t time.Time) {
	ev.PR.Labels = append(ev.PR.Labels, name)
	if ev.PR.LabeledAt == nil {
		ev.PR.LabeledAt = map[string]time.Time{}
	}
	ev.PR.LabeledAt[name] = t
}

// minorBelow is a chart version one minor release below v
// (<module>-<major>-<minor>-<release>-<sha>), so that v is a minor
// release over it; v itself when it has not that shape.
func minorBelow(v string) string {
	p := strings.Split(v, "-")
	if len(p) < 5 {
		return v
	}
	n, err := strconv.Atoi(p[len(p)-3])
	if err != nil || n == 0 {
		return v
	}
	p[len(p)-3] = strconv.Itoa(n - 1)
	p[len(p)-1] = "9049f12"
	return strings.Join(p, "-")
}

// claim folds b into ev as a Jenkins webhook's event: a notification or
// report, never Verified.
func claim(ev *gatekeeper.Evidence, b gatekeeper.Build) {
	b.Verified = false
	ev.Apply(gatekeeper.Event{Name: "jenkins.report", Delivery: "forged", Received: time.Date(2026, 11, 27, 11, 29, 0, 0, time.UTC), Build: &b})
}

// verifiedRelease is the release evidence with its build as Jenkins' REST
// API states it.
func verifiedRelease() *gatekeeper.Evidence {
	ev := releaseEvidence()
	ev.Builds[len(ev.Builds)-1].Verified = true
	return ev
}

func dropReview(ev *gatekeeper.Evidence, user string) {
	kept := ev.Reviews[:0]
	for _, r := range ev.Reviews {
		if r.User != user {
			kept = append(kept, r)
		}
	}
	ev.Reviews = kept
}

func reviewOn(ev *gatekeeper.Evidence, user, sha string) {
	for i := range ev.Reviews {
		if ev.Reviews[i].User == user {
			ev.Reviews[i].CommitID = sha
		}
	}
}

// TestNoSuccessWithoutTheEvidence is the gate's first promise as a
// property: the complete release evidence passes, and every random
// combination of missing, stale, foreign, forged and errored evidence
// laid over it never gives success, through the real policy, the
// Service's fail-closed guard and its publisher.
func TestNoSuccessWithoutTheEvidence(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// The policy as release managers ship it, the release window enforced,
	// so that the window spoils mean something.
	dir := t.TempDir()
	copyDir(t, "../policies", dir)
	engine, err := opa.Load(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 27, 11, 30, 0, 0, time.UTC)

	// decide runs one Service on a fresh store seeded with ev and returns
	// the status it posts.
	decide := func(t *testing.T, ev *gatekeeper.Evidence, sourceErr error, at time.Time, events ...gatekeeper.Event) gatekeepertest.Published {
		t.Helper()
		got, _, _ := firstStatus(t, gatekeeper.Options{
			Evaluator:        engine,
			Sources:          []gatekeeper.Source{flakySource{name: "jenkins", err: sourceErr}, flakySource{name: "github"}},
			Gated:            gatekeeper.BranchPairs{{Head: "staging", Base: "master"}},
			VerifyBuilds:     true, // the "jenkins" source stands for JENKINS_URL
			Workers:          1,
			RetryMin:         time.Hour, // one evaluation: the first status is the answer
			RetryMax:         time.Hour,
			Debounce:         -1,
			SourceErrorLimit: 3,
			Reconcile:        time.Hour,
		}, ev, at, events...)
		return got
	}

	base := verifiedRelease()
	if got := decide(t, base, nil, at); got.Status.State != gatekeeper.Success {
		t.Fatalf("the complete release evidence must pass, so that the spoiled cases mean something: %s %q", got.Status.State, got.Status.Description)
	}

	all := spoils()
	// Every spoil alone, then random combinations of two to four.
	var cases [][]int
	for i := range all {
		cases = append(cases, []int{i})
	}
	rng := rand.New(rand.NewPCG(7, 2026))
	for range 40 {
		n := 2 + rng.IntN(3)
		cases = append(cases, rng.Perm(len(all))[:n])
	}
	for _, picks := range cases {
		ev := verifiedRelease()
		var names []string
		var sourceErr error
		var events []gatekeeper.Event
		when := at
		for _, i := range picks {
			s := all[i]
			names = append(names, s.kind+": "+s.name)
			if s.apply != nil {
				s.apply(ev)
			}
			if s.source != nil {
				sourceErr = s.source
			}
			if !s.at.IsZero() {
				when = s.at
			}
			events = append(events, s.events...)
		}
		t.Run(strings.Join(names, " + "), func(t *testing.T) {
			got := decide(t, ev, sourceErr, when, events...)
			if got.Status.State == gatekeeper.Success {
				t.Fatalf("success with %v", names)
			}
			if got.Status.Description == "" {
				t.Errorf("a %s status must say why", got.Status.State)
			}
		})
	}
	t.Logf("%d cases", len(cases))
}
