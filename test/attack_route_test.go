package test

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// headR is the head of a feature branch's pull request (made up).
const headR = "e1d2c3b4a5f60718293a4b5c6d7e8f90a1b2c3d4"

// TestAttackRetargetIntoMaster: a developer opens a pull request from
// feature/x into develop, which nothing gates, sets a success by hand in
// the gate's context, then retargets the pull request to master (GitHub's
// "Edit" base button: pull_request.edited with changes.base). The pull
// request into master must then be gated like any other (failure, "only
// staging … may merge into master") and the hand-set success corrected.
func TestAttackRetargetIntoMaster(t *testing.T) {
	t.Parallel()
	f := newEchoRepo(t)
	s := startEchoServer(t, f)
	pr := f.setPull(9, nil)
	f.mu.Lock()
	h := pr["head"].(map[string]any)
	h["ref"], h["sha"] = "feature/x", headR
	pr["base"].(map[string]any)["ref"] = "develop"
	f.mu.Unlock()
	if code, body := s.deliver("pull_request", "retarget-open", openedPayload(t, pr)); code != http.StatusAccepted {
		t.Fatalf("opened: %d %s", code, body)
	}
	f.set(headR, "release-gate", "success", "LGTM", "", "dev-zoe")
	quietPosts(f)

	// Retargeted to master.
	f.mu.Lock()
	pr["base"].(map[string]any)["ref"] = "master"
	f.mu.Unlock()
	ev := fixtureMap(t, "github/pull_request.opened.json")
	ev["action"], ev["number"], ev["pull_request"] = "edited", 9, clone(t, pr)
	ev["changes"] = map[string]any{"base": map[string]any{"ref": map[string]any{"from": "develop"}, "sha": map[string]any{"from": baseSHA}}}
	ev["pull_request"].(map[string]any)["updated_at"] = "2019-05-15T16:00:00Z"
	if code, body := s.deliver("pull_request", "retarget-edit", mustJSON(t, ev)); code != http.StatusAccepted {
		t.Fatalf("edited: %d %s", code, body)
	}
	posts := quietPosts(f)
	var last map[string]any
	for _, p := range posts {
		if strings.HasSuffix(p.Path, "/"+headR) {
			last = p.Body
		}
	}
	if last == nil || last["state"] != "failure" || !strings.Contains(last["description"].(string), "may merge into master") {
		t.Fatalf("after retargeting into master the gate's status on the head is %v, want failure naming the rule (the hand-set success stands)", last)
	}
}

// TestAttackStrangersPullsSpendNoZenHubBudget: on a public repository
// anybody may open pull requests into master from a fork. Each is gated
// (failure: "only staging … may merge into master") whatever its evidence,
// so nothing read about it changes its status. A stranger's pull request
// whose description links forty issues must not send the gatekeeper to
// ZenHub about them: forty such pull requests would spend the ZenHub
// token's budget (and with it the release pull request's link checks).
func TestAttackStrangersPullsSpendNoZenHubBudget(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{zenhub: true})
	var refs []string
	for i := 1; i <= 40; i++ {
		refs = append(refs, "#"+strconv.Itoa(i))
		r.zh.know(repoID, i)
	}
	const n = 31
	payload, pr := opened(t, n, headR, "Fixes "+strings.Join(refs, ", "))
	m := recorded(t, "pull_request.opened.json")
	json.Unmarshal(payload, &m)
	head := object(object(m, "pull_request"), "head")
	head["ref"] = "patch-1"
	object(head, "repo")["id"] = 999999
	object(head, "repo")["full_name"] = "stranger/Hello-World"
	h := object(pr, "head")
	h["ref"] = "patch-1"
	object(h, "repo")["id"] = 999999
	object(h, "repo")["full_name"] = "stranger/Hello-World"
	r.gh.setPull(pr)
	r.github("pull_request", mustJSON(t, m))
	p := r.settle(n)
	if p.Latest.Decision.State != "failure" {
		t.Fatalf("a stranger's pull request into master: %s %q, want failure", p.Latest.Decision.State, p.Latest.Description)
	}
	asked := 0
	for i := 1; i <= 40; i++ {
		asked += r.zh.lookups(repoID, i)
	}
	if asked != 0 {
		t.Errorf("the gatekeeper asked ZenHub %d times about the issues a stranger's pull request links", asked)
	}
}

// TestAttackHandSetSuccessOnAReleaseTheGatekeeperNeverHeardOf: the release
// pull request's opened delivery never reached the gatekeeper (it was
// being deployed; GitHub does not deliver again by itself). At 16:55 a
// hurried manager sets release-gate to success by hand on its head.
// GitHub delivers that status to the gatekeeper, naming the repository and
// the commit. The gatekeeper must find the pull request it belongs to and
// correct the status: a hand-set success on a release pull request must
// never stand.
func TestAttackHandSetSuccessOnAReleaseTheGatekeeperNeverHeardOf(t *testing.T) {

	t.Parallel()
	f := newEchoRepo(t)
	// Reconciling every two seconds: the test does not wait on its timer.
	s := startServer(t, serverOptions{extra: []string{"GITHUB_API_URL=" + f.URL + "/", "GITHUB_TOKEN=e2e-token", "GATEKEEPER_RECONCILE=2s"}})
	f.mu.Lock()
	f.hook = s.url("/webhooks/github")
	f.mu.Unlock()
	pr := f.setPull(2, nil) // on GitHub, never delivered
	head := pr["head"].(map[string]any)["sha"].(string)
	f.set(head, "release-gate", "success", "LGTM, shipping", "", "hurried-manager")
	quietPosts(f)
	eventually(t, "a correction of the hand-set success", func() bool {
		for _, p := range f.Posts() {
			if strings.HasSuffix(p.Path, "/"+head) && p.Body["state"] != "success" {
				return true
			}
		}
		return false
	})
}
