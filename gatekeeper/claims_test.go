package gatekeeper

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const (
	claimJob   = "job/acme/job/shop/job/PR-7-merge"
	claimHead  = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
	claimOther = "5b9e1c0f6a3d2e4b8c7a9f0e1d2c3b4a5f6e7d8c"
)

// claimEvent is a notification or report about build 10 of claimJob.
func claimEvent(delivery string, at time.Duration, b Build) Event {
	b.JobPath, b.Number, b.Key = claimJob, 10, PullKey{"acme", "shop", 7}
	return Event{Name: "jenkins.report", Delivery: delivery, Received: t0.Add(at), Build: &b}
}

// apiRead is build 10 as Jenkins' REST API states it.
func apiRead(at time.Duration, b Build) Event {
	b.JobPath, b.Number, b.Key = claimJob, 10, PullKey{"acme", "shop", 7}
	b.Verified, b.VerifiedAt = true, t0.Add(at)
	return Event{Name: "jenkins.build", Received: t0.Add(at), Build: &b}
}

func TestClaimsNeverChangeWhatJenkinsStated(t *testing.T) {
	t.Parallel()
	stages := []Stage{{Name: "Checkout", Key: StageClone, Status: StageSuccess}}
	tests := []struct {
		name   string
		events []Event
		// want is the build's facts and claimed values after the events.
		wantResult, wantHead, wantChart string
		wantRecheck                     bool
		wantDisputes                    []string
	}{
		{
			name: "COMPLETED SUCCESS over Jenkins' FAILURE",
			events: []Event{
				apiRead(0, Build{HeadSHA: claimHead, Result: ResultFailure, Stages: stages}),
				claimEvent("forged", time.Minute, Build{Phase: "COMPLETED", Result: ResultSuccess}),
			},
			wantResult: ResultFailure, wantHead: claimHead, wantRecheck: true,
			wantDisputes: []string{"jenkins.report forged: result SUCCESS, Jenkins says FAILURE"},
		},
		{
			name: "an old head's build re-pinned by a one-field report",
			events: []Event{
				apiRead(0, Build{HeadSHA: claimHead, Result: ResultSuccess}),
				claimEvent("forged", time.Minute, Build{HeadSHA: claimOther}),
			},
			wantResult: ResultSuccess, wantHead: claimHead, wantRecheck: true,
			wantDisputes: []string{"jenkins.report forged: head " + claimOther + ", Jenkins says " + claimHead},
		},
		{
			name: "claims before the read: the read replaces them and checks them",
			events: []Event{
				claimEvent("report", 0, Build{HeadSHA: claimHead, Result: ResultSuccess, ChartVersion: "shop-1-2-3-ec26c3e", Stages: stages,
					Tests: &TestSummary{Total: 1, Passed: 1}}),
				claimEvent("other", time.Second, Build{HeadSHA: claimOther, ChartVersion: "shop-1-2-3-5b9e1c0"}),
				apiRead(time.Minute, Build{HeadSHA: claimHead, Result: ResultSuccess}),
			},
			// The chart counts only from the claim Jenkins does not
			// contradict.
			wantResult: ResultSuccess, wantHead: claimHead, wantChart: "shop-1-2-3-ec26c3e",
			wantDisputes: []string{"jenkins.report other: head " + claimOther + ", Jenkins says " + claimHead},
		},
		{
			name: "a report Jenkins contradicts brings no chart",
			events: []Event{
				claimEvent("report", 0, Build{HeadSHA: claimHead, Result: ResultSuccess, ChartVersion: "shop-1-2-3-ec26c3e"}),
				apiRead(time.Minute, Build{HeadSHA: claimHead, Result: ResultUnstable}),
			},
			wantResult: ResultUnstable, wantHead: claimHead,
			wantDisputes: []string{"jenkins.report report: result SUCCESS, Jenkins says UNSTABLE"},
		},
		{
			name: "before any read, a forged SUCCESS does not replace a FAILURE",
			events: []Event{
				claimEvent("real", 0, Build{Phase: "COMPLETED", Result: ResultFailure}),
				claimEvent("forged", time.Minute, Build{Phase: "COMPLETED", Result: ResultSuccess}),
			},
			wantResult: ResultFailure,
		},
		{
			name: "before any read, a claimed head is not replaced",
			events: []Event{
				claimEvent("real", 0, Build{HeadSHA: claimHead, Result: ResultSuccess}),
				claimEvent("forged", time.Minute, Build{HeadSHA: claimOther}),
			},
			wantResult: ResultSuccess, wantHead: claimHead,
		},
		{
			name: "a finished result claimed while Jenkins says running is no dispute yet",
			events: []Event{
				apiRead(0, Build{HeadSHA: claimHead, Building: true}),
				claimEvent("completed", time.Minute, Build{Phase: "COMPLETED", Result: ResultSuccess}),
			},
			wantHead: claimHead, wantRecheck: true,
		},
		{
			name: "Jenkins has no such build",
			events: []Event{
				claimEvent("forged", 0, Build{HeadSHA: claimHead, Result: ResultSuccess, ChartVersion: "shop-1-2-3-ec26c3e"}),
				{Name: "jenkins.build", Received: t0.Add(time.Minute), Build: &Build{JobPath: claimJob, Number: 10, Gone: true, HeadSHA: claimHead, Result: ResultSuccess}},
			},
			wantResult: ResultSuccess, wantHead: claimHead,
			wantDisputes: []string{"jenkins.report forged: Jenkins has no build #10"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var ev Evidence
			for _, e := range tt.events {
				ev.Apply(e)
			}
			if len(ev.Builds) != 1 {
				t.Fatalf("%d builds, want 1", len(ev.Builds))
			}
			b := ev.Builds[0]
			if b.Result != tt.wantResult || b.HeadSHA != tt.wantHead || b.ChartVersion != tt.wantChart || b.Recheck != tt.wantRecheck {
				t.Errorf("result %q, head %q, chart %q, recheck %v; want %q, %q, %q, %v",
					b.Result, b.HeadSHA, b.ChartVersion, b.Recheck, tt.wantResult, tt.wantHead, tt.wantChart, tt.wantRecheck)
			}
			if diff := cmp.Diff(tt.wantDisputes, b.Disputes()); diff != "" {
				t.Errorf("disputes (-want +got):\n%s", diff)
			}
			if b.Verified && b.Tests != nil {
				t.Errorf("a report's tests survived Jenkins' read: %+v", b.Tests)
			}
		})
	}
}

// TestClaimedChartCountsOnlyForJenkinsSuccess: with the Jenkins API the
// chart and the image digest, which only claims bring, count only for a
// build Jenkins reports finished and successful.
func TestClaimedChartCountsOnlyForJenkinsSuccess(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name             string
		verify           bool
		read             *Build
		wantChart        bool
		wantVerification string
	}{
		{name: "no API: the claims stand", verify: false, wantChart: true, wantVerification: VerificationNone},
		{name: "API not read yet", verify: true, wantChart: false, wantVerification: VerificationPending},
		{name: "Jenkins says FAILURE", verify: true, read: &Build{HeadSHA: claimHead, Result: ResultFailure}, wantChart: false, wantVerification: VerificationJenkins},
		{name: "Jenkins says running", verify: true, read: &Build{HeadSHA: claimHead, Building: true}, wantChart: false, wantVerification: VerificationJenkins},
		{name: "Jenkins says SUCCESS", verify: true, read: &Build{HeadSHA: claimHead, Result: ResultSuccess}, wantChart: true, wantVerification: VerificationJenkins},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ev := Evidence{Key: PullKey{"acme", "shop", 7}}
			ev.Apply(Event{Name: "pull_request.opened", Received: t0, PullRequest: &PullRequest{
				Key: PullKey{"acme", "shop", 7}, State: "open", HeadRef: "staging", BaseRef: "master", HeadSHA: claimHead, UpdatedAt: t0,
			}})
			ev.Apply(claimEvent("report", time.Second, Build{HeadSHA: claimHead, Result: ResultSuccess,
				ChartVersion: "shop-1-2-3-ec26c3e", BaseChartVersion: "shop-1-2-2-f95f852", ImageDigest: "sha256:" + strings.Repeat("ab", 32)}))
			if tt.read != nil {
				ev.Apply(apiRead(time.Minute, *tt.read))
			}
			b := BuildInput(&ev, InputOptions{Now: t0, VerifyBuilds: tt.verify}).Map()["build"].(map[string]any)
			if got := b["chart"] != nil && b["image_digest"] != "" && b["base_chart"] != nil; got != tt.wantChart {
				t.Errorf("chart %v, base chart %v, digest %q: counted %v, want %v", b["chart"], b["base_chart"], b["image_digest"], got, tt.wantChart)
			}
			if !tt.wantChart && (b["chart"] != nil || b["base_chart"] != nil || b["image_digest"] != "") {
				t.Errorf("chart %v, base chart %v, digest %q: none of them may count", b["chart"], b["base_chart"], b["image_digest"])
			}
			if b["verification"] != tt.wantVerification {
				t.Errorf("verification %v, want %s", b["verification"], tt.wantVerification)
			}
		})
	}
}

// TestBuildsAreBounded: claims about made-up build numbers cannot grow the
// evidence without end; what Jenkins said it does not have goes first, and
// the current head's build stays.
func TestBuildsAreBounded(t *testing.T) {
	t.Parallel()
	ev := Evidence{Key: PullKey{"acme", "shop", 7}}
	ev.Apply(Event{Name: "pull_request.opened", Received: t0, PullRequest: &PullRequest{
		Key: PullKey{"acme", "shop", 7}, State: "open", HeadRef: "staging", BaseRef: "master", HeadSHA: claimHead, UpdatedAt: t0,
	}})
	ev.Apply(apiRead(0, Build{HeadSHA: claimHead, Result: ResultSuccess}))
	for n := int64(100); n < 100+3*maxBuilds; n++ {
		sha := claimOther
		if n%2 == 0 {
			sha = claimHead
		}
		ev.Apply(Event{Name: "jenkins.report", Delivery: "flood", Received: t0, Build: &Build{
			JobPath: claimJob, Number: n, Key: PullKey{"acme", "shop", 7}, HeadSHA: sha, Result: ResultSuccess,
		}})
	}
	if len(ev.Builds) != maxBuilds {
		t.Errorf("%d builds kept, want %d", len(ev.Builds), maxBuilds)
	}
	if !slices.ContainsFunc(ev.Builds, func(b Build) bool { return b.Number == 10 }) {
		t.Error("the current head's build Jenkins stated was dropped")
	}
}

// TestInputKeysStagesWithTheMapInForce: the input keys every stage with
// the stage names in force, not those the stage was recorded with.
func TestInputKeysStagesWithTheMapInForce(t *testing.T) {
	t.Parallel()
	ev := Evidence{Key: PullKey{"acme", "shop", 7}}
	ev.Apply(Event{Name: "pull_request.opened", Received: t0, PullRequest: &PullRequest{
		Key: PullKey{"acme", "shop", 7}, State: "open", HeadRef: "staging", BaseRef: "master", HeadSHA: claimHead, UpdatedAt: t0,
	}})
	ev.Apply(apiRead(0, Build{HeadSHA: claimHead, Result: ResultSuccess, Stages: []Stage{{Name: "Container scan", Status: StageSuccess}}}))
	keys := func() func(string) string {
		return func(name string) string {
			if name == "Container scan" {
				return StageScan
			}
			return ""
		}
	}
	for _, tt := range []struct {
		keys func() func(string) string
		want string
	}{{nil, ""}, {keys, StageScan}} {
		b := BuildInput(&ev, InputOptions{Now: t0, StageKeys: tt.keys}).Map()["build"].(map[string]any)
		if got := b["stages"].([]any)[0].(map[string]any)["key"]; got != tt.want {
			t.Errorf("stage key %v, want %q", got, tt.want)
		}
	}
}

// TestClaimDuringARead: a claim that arrives while Jenkins is being read is
// checked against that read and asks for another one.
func TestClaimDuringARead(t *testing.T) {
	t.Parallel()
	var ev Evidence
	ev.Apply(claimEvent("seen", 0, Build{Phase: "COMPLETED", Result: ResultSuccess}))
	seen := slices.Clone(ev.Builds[0].Claims)
	ev.Apply(claimEvent("during", time.Second, Build{Phase: "FINALIZED", Result: ResultSuccess}))
	read := apiRead(2*time.Second, Build{HeadSHA: claimHead, Result: ResultFailure})
	read.Build.Claims = seen
	ev.Apply(read)
	b := ev.Builds[0]
	if !b.Recheck || len(b.Disputes()) != 2 || b.Result != ResultFailure {
		t.Errorf("recheck %v, disputes %q, result %q; want a recheck, both claims disputed, FAILURE", b.Recheck, b.Disputes(), b.Result)
	}
}
