package opa

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// policiesDir is the real default policy folder.
const policiesDir = "../../policies"

// fixturesDir holds the recorded payloads (copied from shared/fixtures).
const fixturesDir = "../../test/testdata/fixtures"

// now is the evaluation time of every test input: Friday 2024-06-14,
// 17:30 IST, inside the default policy's release window.
var now = time.Date(2024, 6, 14, 12, 0, 0, 0, time.UTC)

// gated gates the recorded pull request's branches (changes → master).
var gated = gatekeeper.BranchPairs{{Head: "changes", Base: "master"}}

// pullPayload is the part of a recorded pull_request webhook the tests need.
type pullPayload struct {
	PullRequest struct {
		Number    int       `json:"number"`
		Title     string    `json:"title"`
		Body      string    `json:"body"`
		State     string    `json:"state"`
		Draft     bool      `json:"draft"`
		Merged    bool      `json:"merged"`
		HTMLURL   string    `json:"html_url"`
		UpdatedAt time.Time `json:"updated_at"`
		User      struct {
			Login string `json:"login"`
		} `json:"user"`
		Head struct {
			Ref  string `json:"ref"`
			SHA  string `json:"sha"`
			Repo struct {
				ID int64 `json:"id"`
			} `json:"repo"`
		} `json:"head"`
		Base struct {
			Ref string `json:"ref"`
			SHA string `json:"sha"`
		} `json:"base"`
		Labels []struct {
			Name string `json:"name"`
		} `json:"labels"`
	} `json:"pull_request"`
	Repository struct {
		ID    int64  `json:"id"`
		Name  string `json:"name"`
		Owner struct {
			Login string `json:"login"`
		} `json:"owner"`
	} `json:"repository"`
}

// readFixture decodes a recorded payload into v.
func readFixture(t testing.TB, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixturesDir, name))
	if err != nil {
		t.Fatalf("reading fixture: %v", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decoding fixture %s: %v", name, err)
	}
}

// readPull returns the pull request of a recorded pull_request webhook.
func readPull(t testing.TB, name string) *gatekeeper.PullRequest {
	t.Helper()
	var p pullPayload
	readFixture(t, name, &p)
	pr := p.PullRequest
	labels := make([]string, len(pr.Labels))
	for i, l := range pr.Labels {
		labels[i] = l.Name
	}
	return &gatekeeper.PullRequest{
		Key:     gatekeeper.PullKey{Owner: p.Repository.Owner.Login, Repo: p.Repository.Name, Number: pr.Number},
		RepoID:  p.Repository.ID,
		Title:   pr.Title,
		Body:    pr.Body,
		Author:  pr.User.Login,
		State:   pr.State,
		Draft:   pr.Draft,
		Merged:  pr.Merged,
		HeadRef: pr.Head.Ref, HeadSHA: pr.Head.SHA,
		BaseRef: pr.Base.Ref, BaseSHA: pr.Base.SHA,
		Labels:     labels,
		HTMLURL:    pr.HTMLURL,
		UpdatedAt:  pr.UpdatedAt,
		HeadRepoID: pr.Head.Repo.ID,
	}
}

// readCheckRun returns the check of a recorded check_run webhook.
func readCheckRun(t testing.TB, name string) gatekeeper.Check {
	t.Helper()
	var p struct {
		CheckRun struct {
			Name        string    `json:"name"`
			HeadSHA     string    `json:"head_sha"`
			Conclusion  string    `json:"conclusion"`
			HTMLURL     string    `json:"html_url"`
			CompletedAt time.Time `json:"completed_at"`
		} `json:"check_run"`
	}
	readFixture(t, name, &p)
	c := p.CheckRun
	return gatekeeper.Check{Name: c.Name, SHA: c.HeadSHA, Kind: "check_run", State: c.Conclusion, URL: c.HTMLURL, UpdatedAt: c.CompletedAt}
}

// evidence returns the evidence of the recorded pull request #2 of
// Codertocat/Hello-World (opened), as the GitHub source would leave it
// today: an approval and a passing check on the head, GitHub answering.
func evidence(t testing.TB) *gatekeeper.Evidence {
	t.Helper()
	pr := readPull(t, "github/pull_request.opened.json")
	ev := &gatekeeper.Evidence{Key: pr.Key}
	ev.Apply(gatekeeper.Event{Name: "pull_request.opened", Received: now.Add(-time.Hour), Key: pr.Key, SHA: pr.HeadSHA, PullRequest: pr})
	ev.Apply(gatekeeper.Event{Name: "pull_request_review.submitted", Received: now.Add(-30 * time.Minute), Key: pr.Key, Review: &gatekeeper.Review{
		ID: 208201048, User: "lead-bob", State: "approved", CommitID: pr.HeadSHA, SubmittedAt: now.Add(-30 * time.Minute),
	}})
	ev.Apply(gatekeeper.Event{Name: "status", Received: now.Add(-20 * time.Minute), SHA: pr.HeadSHA, Check: &gatekeeper.Check{
		Name: "sonarqube", SHA: pr.HeadSHA, Kind: "status", State: "success", Description: "Quality gate passed", UpdatedAt: now.Add(-20 * time.Minute),
	}})
	ev.Sources = map[string]gatekeeper.SourceStatus{"github": {OK: true, CheckedAt: now.Add(-time.Minute)}}
	return ev
}

// input builds the policy input of ev exactly as the Service does.
func input(ev *gatekeeper.Evidence) *gatekeeper.Input {
	return gatekeeper.BuildInput(ev, gatekeeper.InputOptions{Now: now, Gated: gated, StatusContext: "release-gate"})
}

// complete adds to ev every piece of evidence the release needs, all good:
// the PR-merge build of the head and the base branch's baseline, approvals
// and GO votes by members of the four role teams (data.yaml), an issue link
// in the description, the merged pull requests with their ZenHub-checked
// issues, and a ticked checklist.
func complete(t testing.TB, ev *gatekeeper.Evidence) *gatekeeper.Evidence {
	t.Helper()
	head, key := ev.HeadSHA(), ev.Key
	at := now.Add(-10 * time.Minute)
	apply := func(e gatekeeper.Event) {
		e.Received, e.Key = at, key
		ev.Apply(e)
	}
	body := ev.PR.Body + "\n\nRelease of #1.\n\n- [x] Release notes\n- [x] DR plan\n- [X] Unit tests listed\n"
	pr := *ev.PR
	pr.Body, pr.UpdatedAt = body, pr.UpdatedAt.Add(time.Minute)
	apply(gatekeeper.Event{Name: "pull_request.edited", PullRequest: &pr})

	var stages []gatekeeper.Stage
	names := []string{"Checkout", "Build", "Unit Tests", "Trivy Scan", "Push Image", "Helm Publish", "Deploy"}
	for i, key := range gatekeeper.SeedStages() {
		stages = append(stages, gatekeeper.Stage{Name: names[i], Key: key, Status: gatekeeper.StageSuccess})
	}
	apply(gatekeeper.Event{Name: "jenkins.build", Build: &gatekeeper.Build{
		JobPath: "job/Codertocat/job/Hello-World/job/PR-2", JobName: "PR-2", Number: 57, Key: key,
		HeadSHA: head, BaseSHA: ev.PR.BaseSHA, MergeSHA: "1a2b3c4d5e6f7a8b9c0d1a2b3c4d5e6f7a8b9c0d", Phase: "FINALIZED", Result: gatekeeper.ResultSuccess,
		Verified: true, URL: "https://jenkins.example.com/job/Codertocat/job/Hello-World/job/PR-2/57/", Stages: stages,
		Tests:           &gatekeeper.TestSummary{Total: 812, Passed: 809, Skipped: 3},
		Coverage:        &gatekeeper.Coverage{Line: 84.2, Source: "coverage"},
		Vulnerabilities: &gatekeeper.VulnCounts{Medium: 4, Low: 11, Report: "trivy.json"},
		ChartVersion:    "hello-world-2-14-3-1a2b3c4", UpdatedAt: at,
	}})
	// The build merged master's tip, as a push to master said.
	apply(gatekeeper.Event{Name: "push", BaseTip: &gatekeeper.BaseTip{Ref: ev.PR.BaseRef, SHA: ev.PR.BaseSHA, At: at, Source: "push"}})
	apply(gatekeeper.Event{Name: "jenkins.baseline", Baseline: &gatekeeper.Build{
		JobPath: "job/Codertocat/job/Hello-World/job/master", Number: 80, HeadSHA: ev.PR.BaseSHA, Result: gatekeeper.ResultSuccess,
		Tests: &gatekeeper.TestSummary{Total: 808}, Coverage: &gatekeeper.Coverage{Line: 84.9, Source: "coverage"}, UpdatedAt: at,
	}})
	roles := []struct{ team, user string }{
		{"releasegate/module-leads", "lead-bob"}, {"releasegate/sre", "sre-dan"},
		{"releasegate/qa", "qa-carol"}, {"releasegate/management", "vp-erin"},
	}
	for i, m := range roles {
		// The team source checks each reviewer and voter in every role
		// team: each person is a member of their own team only.
		for _, other := range roles {
			apply(gatekeeper.Event{Name: "github.membership", Membership: &gatekeeper.Membership{Team: other.team, User: m.user, Active: other.team == m.team, CheckedAt: at}})
		}
		// The release managers' team too: its role approves emergencies only.
		apply(gatekeeper.Event{Name: "github.membership", Membership: &gatekeeper.Membership{Team: "releasegate/release-managers", User: m.user, CheckedAt: at}})
		apply(gatekeeper.Event{Name: "pull_request_review.submitted", Review: &gatekeeper.Review{
			ID: int64(400 + i), User: m.user, State: "APPROVED", CommitID: head, SubmittedAt: at,
		}})
		if m.user != "vp-erin" {
			apply(gatekeeper.Event{Name: "issue_comment.created", Comment: &gatekeeper.Comment{
				ID: int64(900 + i), User: m.user, Body: "/go", CreatedAt: at, UpdatedAt: at,
			}})
		}
	}
	ref := gatekeeper.IssueRef{Owner: "Codertocat", Repo: "Hello-World", Number: 1, From: "branch"}
	apply(gatekeeper.Event{Name: "github.merged_pulls", MergedPulls: &[]gatekeeper.MergedPull{
		{Number: 1, Title: "Add README", Author: "Codertocat", HeadRef: "1-readme", Links: []gatekeeper.IssueRef{ref}},
	}})
	apply(gatekeeper.Event{Name: "zenhub.issue", IssueCheck: &gatekeeper.IssueCheck{Ref: ref, Found: true, Pipeline: "Done", CheckedAt: at}})
	return ev
}

// writePolicy writes files (relative path → content) into a new folder.
func writePolicy(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		writeFile(t, filepath.Join(dir, name), content)
	}
	return dir
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// copyPolicies copies the real policy folder into a new folder.
func copyPolicies(t testing.TB) string {
	t.Helper()
	entries, err := os.ReadDir(policiesDir)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(policiesDir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		files[e.Name()] = string(b)
	}
	return writePolicy(t, files)
}
