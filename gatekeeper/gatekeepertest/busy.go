package gatekeepertest

import (
	"fmt"
	"time"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// BusyRelease is the evidence of a busy release pull request on the day: the recorded
// pull request's identity, a complete PR-merge build, four approvals, three
// votes, memberships, links, a merged pull request and a full event log.
func BusyRelease() *gatekeeper.Evidence {
	key := gatekeeper.PullKey{Owner: "Codertocat", Repo: "Hello-World", Number: 2}
	head := "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
	at := time.Date(2026, 11, 27, 11, 30, 0, 0, time.UTC) // Friday 17:00 IST
	ev := &gatekeeper.Evidence{Key: key}
	ev.Apply(gatekeeper.Event{Name: "pull_request.opened", Received: at, PullRequest: &gatekeeper.PullRequest{
		Key: key, RepoID: 186853002, HeadRepoID: 186853002, Title: "Release 2026-11-27", Author: "Codertocat", State: "open",
		HeadRef: "staging", BaseRef: "master", HeadSHA: head, BaseSHA: "f95f852bd8fca8fcc58a9a2d6c842781e32a215e",
		Body:      "Release of #1 and Codertocat/Hello-World#3.\n- [x] Release notes\n- [x] DR plan\n- [x] Unit tests listed\n",
		UpdatedAt: at,
	}})
	branch := 61.5
	stages := []gatekeeper.Stage{}
	for _, k := range gatekeeper.SeedStages() {
		stages = append(stages, gatekeeper.Stage{Name: k, Key: k, Status: "SUCCESS"})
	}
	ev.Apply(gatekeeper.Event{Received: at, Build: &gatekeeper.Build{
		JobPath: "job/Codertocat/job/Hello-World/job/PR-2-merge", JobName: "PR-2-merge", Number: 10, Key: key, Strategy: "merge",
		HeadSHA: head, BaseSHA: "f95f852bd8fca8fcc58a9a2d6c842781e32a215e", MergeSHA: "1a2b3c4d5e6f7a8b9c0d1a2b3c4d5e6f7a8b9c0d",
		Phase: "FINALIZED", Result: "SUCCESS", Stages: stages,
		Tests: &gatekeeper.TestSummary{Total: 420, Passed: 418, Skipped: 2}, Coverage: &gatekeeper.Coverage{Line: 88.44, Branch: &branch, Source: "coverage"},
		Vulnerabilities: &gatekeeper.VulnCounts{Medium: 4}, ImageDigest: "sha256:6c3c624b58dbbcd3c0dd82b4c53f04194d1247c6eebdaab7c610cf7d66709b3b",
		ChartVersion: "hello-world-2-14-3-1a2b3c4", UpdatedAt: at,
	}})
	// master has not moved since the build merged it.
	ev.Apply(gatekeeper.Event{Name: "push", Received: at, BaseTip: &gatekeeper.BaseTip{Ref: "master", SHA: "f95f852bd8fca8fcc58a9a2d6c842781e32a215e", At: at, Source: "push"}})
	ev.Apply(gatekeeper.Event{Received: at, Baseline: &gatekeeper.Build{JobPath: "job/Codertocat/job/Hello-World/job/master", Number: 6,
		Tests: &gatekeeper.TestSummary{Total: 416}, Coverage: &gatekeeper.Coverage{Line: 88.1}, UpdatedAt: at}})
	for i, user := range []string{"lead-bob", "sre-dan", "qa-carol", "vp-erin"} {
		ev.Apply(gatekeeper.Event{Received: at, Review: &gatekeeper.Review{ID: int64(100 + i), User: user, State: "APPROVED", CommitID: head, SubmittedAt: at}})
		ev.Apply(gatekeeper.Event{Received: at, Comment: &gatekeeper.Comment{ID: int64(200 + i), User: user, Body: "/go", CreatedAt: at, UpdatedAt: at}})
	}
	for _, m := range [][2]string{{"releasegate/module-leads", "lead-bob"}, {"releasegate/sre", "sre-dan"}, {"releasegate/qa", "qa-carol"}, {"releasegate/management", "vp-erin"}} {
		ev.Apply(gatekeeper.Event{Received: at, Membership: &gatekeeper.Membership{Team: m[0], User: m[1], Active: true, CheckedAt: at}})
	}
	merged := []gatekeeper.MergedPull{{Number: 17, Title: "Add catalog info", Author: "sish8075", HeadRef: "feature/catalog-info",
		Links: []gatekeeper.IssueRef{{Owner: "Codertocat", Repo: "Hello-World", Number: 4, From: "body"}}}}
	ev.Apply(gatekeeper.Event{Received: at, MergedPulls: &merged})
	for _, n := range []int{1, 3, 4} {
		ev.Apply(gatekeeper.Event{Received: at, IssueCheck: &gatekeeper.IssueCheck{Ref: gatekeeper.IssueRef{Owner: "Codertocat", Repo: "Hello-World", Number: n}, Found: true, Pipeline: "Done", CheckedAt: at}})
	}
	for i := 0; i < 200; i++ { // a full evidence log
		ev.Apply(gatekeeper.Event{Name: "check_run.completed", Delivery: fmt.Sprintf("delivery-%d", i), Received: at})
	}
	ev.Sources = map[string]gatekeeper.SourceStatus{"github": {OK: true, CheckedAt: at}, "jenkins": {OK: true, CheckedAt: at}}
	return ev
}

// BusyReleaseOptions are the input options BusyRelease is evaluated with:
// its release day, inside the default policy's window.
func BusyReleaseOptions() gatekeeper.InputOptions {
	return gatekeeper.InputOptions{Now: time.Date(2026, 11, 27, 11, 30, 0, 0, time.UTC), Gated: gatekeeper.BranchPairs{{Head: "staging", Base: "master"}}, StatusContext: "release-gate"}
}
