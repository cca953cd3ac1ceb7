package gatekeeper

import (
	"fmt"
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

// TestDisagreeingChartClaimsDoNotCount: anyone holding the webhook token
// can post a pipeline report about the release build. A report that is not
// tied to the build Jenkins verified (the merge commit Jenkins built) brings
// nothing, and when reports that are tied to it disagree on the chart
// versions or the image digest none of them counts: no forged report makes
// an unpinned chart pinned or a major release minor.
func TestDisagreeingChartClaimsDoNotCount(t *testing.T) {
	t.Parallel()
	const merge = "d27afa0805201322d846d7defc29b82c88d9b5ce"
	digest := "sha256:" + strings.Repeat("ab", 32)
	major := "shop-3-0-0-" + merge[:7]  // what the pipeline built: a major release
	minor := "shop-2-10-0-" + merge[:7] // what the attacker says: a minor one
	unpinned := "shop-3-0-0-" + claimOther[:7]
	base := "shop-2-9-9-f95f852"
	real := Build{HeadSHA: claimHead, MergeSHA: merge, Result: ResultSuccess, ChartVersion: major, BaseChartVersion: base, ImageDigest: digest}
	read := apiRead(time.Hour, Build{HeadSHA: claimHead, MergeSHA: merge, Result: ResultSuccess})
	other := func(b Build) Event { // a report about build 11 of the job
		e := claimEvent("other-number", 2*time.Minute, b)
		e.Build.Number = 11
		return e
	}
	for _, tt := range []struct {
		name   string
		verify bool
		events []Event
		// want is the chart and base chart version that count, "" for none.
		wantChart, wantBase string
		wantPinned          bool
		// wantDisputes, when set, is a word each line of build.disputes
		// has, telling why the claims did not count.
		wantDisputes string
	}{
		{name: "the pipeline's report alone", verify: true,
			events:    []Event{claimEvent("real", time.Minute, real), read},
			wantChart: major, wantBase: base, wantPinned: true},
		{name: "the same report twice", verify: true,
			events:    []Event{claimEvent("real", time.Minute, real), claimEvent("again", 2*time.Minute, real), read},
			wantChart: major, wantBase: base, wantPinned: true},
		{name: "a report without sha after the real one", verify: true,
			events:    []Event{claimEvent("real", time.Minute, real), claimEvent("forged", 2*time.Minute, Build{ChartVersion: minor, BaseChartVersion: base}), read},
			wantChart: major, wantBase: base, wantPinned: true},
		{name: "a report without sha after the read", verify: true,
			events:    []Event{claimEvent("real", time.Minute, real), read, claimEvent("forged", 2*time.Hour, Build{ChartVersion: minor, BaseChartVersion: base})},
			wantChart: major, wantBase: base, wantPinned: true},
		{name: "a report with the head sha only", verify: true,
			events:    []Event{claimEvent("real", time.Minute, real), read, claimEvent("forged", 2*time.Hour, Build{HeadSHA: claimHead, ChartVersion: minor, BaseChartVersion: "shop-2-99-0-f95f852"})},
			wantChart: major, wantBase: base, wantPinned: true,
			wantDisputes: "merge"},
		{name: "a report without sha is all there is", verify: true,
			events:       []Event{claimEvent("forged", time.Minute, Build{ChartVersion: minor, BaseChartVersion: base, ImageDigest: digest}), read},
			wantDisputes: "merge"},
		{name: "two reports with the merge sha that disagree on the chart", verify: true,
			events:       []Event{claimEvent("real", time.Minute, real), claimEvent("forged", 2*time.Minute, Build{MergeSHA: merge, ChartVersion: minor}), read},
			wantDisputes: "disagree"},
		{name: "the forged report first", verify: true,
			events:       []Event{claimEvent("forged", 0, Build{HeadSHA: claimHead, MergeSHA: merge, ChartVersion: minor, BaseChartVersion: base}), claimEvent("real", time.Minute, real), read},
			wantDisputes: "disagree"},
		{name: "reports that disagree on the base chart only", verify: true,
			events:       []Event{claimEvent("real", time.Minute, real), read, claimEvent("forged", 2*time.Hour, Build{MergeSHA: merge, BaseChartVersion: "shop-2-99-0-f95f852"})},
			wantDisputes: "disagree"},
		{name: "an unpinned chart, then a pinned one claimed", verify: true,
			events: []Event{claimEvent("real", time.Minute, Build{HeadSHA: claimHead, MergeSHA: merge, Result: ResultSuccess, ChartVersion: unpinned, BaseChartVersion: base}),
				claimEvent("forged", 2*time.Minute, Build{ChartVersion: major}), read},
			wantChart: unpinned, wantBase: base, wantPinned: false},
		{name: "a report for another build number", verify: true,
			events:    []Event{claimEvent("real", time.Minute, real), other(Build{ChartVersion: minor, BaseChartVersion: base}), read},
			wantChart: major, wantBase: base, wantPinned: true},
		// Until Jenkins says it has no build 11, the claim holds the
		// release ("Jenkins to confirm build #11"); it never passes it.
		{name: "a report for another build number with the head and merge sha", verify: true,
			events: []Event{claimEvent("real", time.Minute, real), read, other(Build{HeadSHA: claimHead, MergeSHA: merge, Result: ResultSuccess, ChartVersion: minor, BaseChartVersion: base}),
				{Name: "jenkins.build", Received: t0.Add(3 * time.Hour), Build: &Build{JobPath: claimJob, Number: 11, Key: PullKey{"acme", "shop", 7}, Gone: true}}},
			wantChart: major, wantBase: base, wantPinned: true},
		{name: "no API: reports that disagree", verify: false,
			events:       []Event{claimEvent("real", time.Minute, real), claimEvent("forged", 2*time.Minute, Build{ChartVersion: minor})},
			wantDisputes: "disagree"},
		{name: "no API: the same report twice", verify: false,
			events:    []Event{claimEvent("real", time.Minute, real), claimEvent("again", 2*time.Minute, real)},
			wantChart: major, wantBase: base, wantPinned: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ev := Evidence{Key: PullKey{"acme", "shop", 7}}
			ev.Apply(Event{Name: "pull_request.opened", Received: t0, PullRequest: &PullRequest{
				Key: PullKey{"acme", "shop", 7}, State: "open", HeadRef: "staging", BaseRef: "master", HeadSHA: claimHead, UpdatedAt: t0,
			}})
			for _, e := range tt.events {
				ev.Apply(e)
			}
			b := BuildInput(&ev, InputOptions{Now: t0, VerifyBuilds: tt.verify}).Map()["build"].(map[string]any)
			if n := b["number"]; n != 10 {
				t.Fatalf("input build #%v, want #10", n)
			}
			chart, _ := b["chart"].(map[string]any)
			baseChart, _ := b["base_chart"].(map[string]any)
			gotChart, gotBase, gotPinned := "", "", false
			if chart != nil {
				gotChart, gotPinned = chart["version"].(string), chart["pinned"] == true
			}
			if baseChart != nil {
				gotBase = baseChart["version"].(string)
			}
			if gotChart != tt.wantChart || gotBase != tt.wantBase || gotPinned != tt.wantPinned {
				t.Errorf("chart %q (pinned %v), base chart %q; want %q (pinned %v), %q", gotChart, gotPinned, gotBase, tt.wantChart, tt.wantPinned, tt.wantBase)
			}
			if tt.wantChart == "" && b["image_digest"] != "" {
				t.Errorf("image digest %v counted from claims that do not count", b["image_digest"])
			}
			if tt.wantDisputes != "" {
				disputes, _ := b["disputes"].([]any)
				if !slices.ContainsFunc(disputes, func(d any) bool { return strings.Contains(d.(string), tt.wantDisputes) }) {
					t.Errorf("disputes %q: none says %q", disputes, tt.wantDisputes)
				}
			}
		})
	}
}

// TestClaimFloodKeepsTheDisagreement: the claims kept are bounded, and a
// flood of reports repeating the forged value does not push the pipeline's
// own report out, which would leave the forged value undisputed.
func TestClaimFloodKeepsTheDisagreement(t *testing.T) {
	t.Parallel()
	const merge = "d27afa0805201322d846d7defc29b82c88d9b5ce"
	ev := Evidence{Key: PullKey{"acme", "shop", 7}}
	ev.Apply(Event{Name: "pull_request.opened", Received: t0, PullRequest: &PullRequest{
		Key: PullKey{"acme", "shop", 7}, State: "open", HeadRef: "staging", BaseRef: "master", HeadSHA: claimHead, UpdatedAt: t0,
	}})
	ev.Apply(claimEvent("real", time.Minute, Build{HeadSHA: claimHead, MergeSHA: merge, Result: ResultSuccess,
		ChartVersion: "shop-3-0-0-" + merge[:7], BaseChartVersion: "shop-2-9-9-f95f852"}))
	ev.Apply(apiRead(time.Hour, Build{HeadSHA: claimHead, MergeSHA: merge, Result: ResultSuccess}))
	for i := range 3 * maxClaims {
		ev.Apply(claimEvent(fmt.Sprint("forged-", i), 2*time.Hour, Build{MergeSHA: merge,
			ChartVersion: "shop-2-10-0-" + merge[:7], BaseChartVersion: "shop-2-9-9-f95f852"}))
		ev.Apply(claimEvent(fmt.Sprint("notification-", i), 2*time.Hour, Build{Phase: "COMPLETED", Result: ResultSuccess}))
	}
	b := ev.Builds[0]
	if len(b.Claims) > maxClaims {
		t.Errorf("%d claims kept, want at most %d", len(b.Claims), maxClaims)
	}
	if b.ChartVersion != "" || b.BaseChartVersion != "" {
		t.Errorf("chart %q, base chart %q counted after a flood of reports that disagree with the pipeline's", b.ChartVersion, b.BaseChartVersion)
	}
}
