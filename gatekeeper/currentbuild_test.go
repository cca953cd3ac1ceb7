package gatekeeper

import "testing"

// TestCurrentBuildIgnoresOtherJobs is finding F10: a build of another job
// that maps to the pull request (a copy of the multibranch project in a
// personal folder, job/alice/job/acme/job/shop) must not outrank the gated
// PR-merge job's build by number, even when Jenkins verified both for the
// head: only the pull request's own PR-<n>-merge job counts.
func TestCurrentBuildIgnoresOtherJobs(t *testing.T) {
	t.Parallel()
	key := PullKey{"acme", "shop", 7}
	const head, tip = "hhh", "ttt"
	real := Build{JobPath: "job/acme/job/shop/job/PR-7-merge", JobName: "PR-7-merge", Number: 12, Key: key, Strategy: "merge",
		HeadSHA: head, BaseSHA: tip, Phase: "COMPLETED", Result: ResultFailure, Verified: true, VerifiedAt: t0}
	foreign := Build{JobPath: "job/alice/job/acme/job/shop/job/PR-7-merge", JobName: "PR-7-merge", Number: 1000, Key: key, Strategy: "merge",
		HeadSHA: head, BaseSHA: tip, Phase: "COMPLETED", Result: ResultSuccess, Verified: true, VerifiedAt: t0}
	plain := Build{JobPath: "job/acme/job/shop/job/PR-7", JobName: "PR-7", Number: 50, Key: key,
		HeadSHA: head, BaseSHA: tip, Phase: "COMPLETED", Result: ResultSuccess, Verified: true, VerifiedAt: t0}
	mapped := real
	mapped.JobPath = "job/ci/job/shop/job/PR-7-merge"
	// A Replay of the failed build, green: refused as evidence.
	replay := real
	replay.Number, replay.Result, replay.Refused = 13, ResultSuccess, "replayed with a Jenkinsfile edited in Jenkins (Replayed #12)"

	for _, tt := range []struct {
		name   string
		builds []Build
		want   string // job path, "" for none
		number int64
	}{
		{"the gated job's build, not a higher-numbered copy's", []Build{real, foreign}, real.JobPath, 12},
		{"order does not matter", []Build{foreign, real}, real.JobPath, 12},
		// With GATEKEEPER_JENKINS_JOBS the gated folder is not the
		// convention's; two jobs placed for one pull request cannot be
		// told apart here (the Jenkins source places only one folder
		// per repository): none counts rather than the higher number.
		{"two jobs, neither the convention's", []Build{mapped, foreign}, "", 0},
		{"the mapped job alone", []Build{mapped}, mapped.JobPath, 12},
		// A plain PR-<n> job is the gated job only when there is no
		// PR-<n>-merge job (what the lost-notification lookup reads).
		{"the merge job over a higher-numbered PR-n build", []Build{plain, real}, real.JobPath, 12},
		{"a PR-n build alone", []Build{plain}, plain.JobPath, 50},
		{"the failed build, not its higher-numbered green Replay", []Build{real, replay}, real.JobPath, 12},
		{"a Replay alone counts for nothing", []Build{replay}, "", 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ev := Evidence{Key: key, PR: &PullRequest{Key: key, HeadSHA: head, BaseRef: "master"}, Builds: tt.builds}
			b := ev.CurrentBuild()
			switch {
			case tt.want == "" && b != nil:
				t.Fatalf("CurrentBuild = %s #%d, want none", b.JobPath, b.Number)
			case tt.want != "" && (b == nil || b.JobPath != tt.want || b.Number != tt.number):
				t.Fatalf("CurrentBuild = %+v, want %s #%d", b, tt.want, tt.number)
			}
			in := BuildInput(&ev, InputOptions{Now: t0})
			if in.Build != nil && in.Build.Result == ResultSuccess && tt.want == real.JobPath {
				t.Errorf("input build result SUCCESS: the copy's; want the gated job's FAILURE")
			}
		})
	}
}
