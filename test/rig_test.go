package test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
)

// The people of the release. Each holds one release role through the team
// data.yaml names for it (read by roleTeams).
const (
	leadUser = "lead-bob" // module_lead
	sreUser  = "sre-dan"  // sre
	qaUser   = "qa-carol" // qa
	mgmtUser = "vp-erin"  // management
)

// repoID is Codertocat/Hello-World's GitHub id in the recorded payloads,
// which ZenHub names the repository by.
const repoID = 186853002

// releaseBody is the recorded pull request's body with what a release pull
// request carries: a ZenHub link to its issue and the release checklist of
// data.yaml, ticked.
const releaseBody = "This is a pretty simple change that we need to pull into master.\n\n" +
	"Release of https://app.zenhub.com/workspaces/releases-5f1a2b3c4d5e6f7a8b9c0d1e/issues/gh/Codertocat/Hello-World/1\n\n" +
	"- [x] Release notes\n- [x] DR plan\n- [x] Unit tests listed\n"

// rig is one gatekeeper process with its fake GitHub, Jenkins and ZenHub.
type rig struct {
	t   *testing.T
	gh  *fakeRepo
	jk  *fakeJenkins // nil: JENKINS_URL not set
	zh  *fakeZenHub  // nil: ZENHUB_API_URL not set
	s   *server
	seq atomic.Int64 // delivery ids
	// policies is the server's policy folder, a copy a test may edit.
	policies string
}

// rigOptions say which sources are configured.
type rigOptions struct {
	jenkinsAPI bool // JENKINS_URL: the Jenkins source enriches builds
	zenhub     bool // ZENHUB_API_URL: linked issues are verified
	// extra are more KEY=VALUE settings.
	extra []string
	// data, when set, rewrites the policy copy's data.yaml.
	data func(t *testing.T, yaml string) string
}

// newRig starts the fakes and the gatekeeper, with GitHub configured and
// the Jenkins receiver's token set. The server runs on the harness's copy
// of the policy whose release window is off (policyCopy): the tests run at
// any hour, and the window would make every golden depend on the clock.
func newRig(t *testing.T, o rigOptions) *rig {
	t.Helper()
	r := &rig{t: t, gh: newFakeRepo(t)}
	teams := roleTeams(t, "../policies")
	for role, user := range map[string]string{"module_lead": leadUser, "sre": sreUser, "qa": qaUser, "management": mgmtUser} {
		r.gh.addMember(teams[role], user)
	}
	extra := []string{
		"GITHUB_API_URL=" + r.gh.URL + "/", "GITHUB_TOKEN=e2e-token",
		"GATEKEEPER_JENKINS_TOKEN=" + jenkinsToken,
	}
	if o.jenkinsAPI {
		r.jk = newFakeJenkins(t)
		extra = append(extra, "JENKINS_URL="+r.jk.URL+"/")
	}
	if o.zenhub {
		r.zh = newFakeZenHub(t)
		extra = append(extra, "ZENHUB_API_URL="+r.zh.URL+"/", "ZENHUB_API_TOKEN="+zenhubToken)
	}
	so := serverOptions{extra: append(extra, o.extra...), policies: policyCopy(t)}
	r.policies = so.policies
	if o.data != nil {
		path := filepath.Join(so.policies, "data.yaml")
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(o.data(t, string(b))), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r.s = startServer(t, so)
	return r
}

// roleTeams reads release.approvals.roles[].{id,team} from the policy's
// data.yaml, so that the fake GitHub's teams are the ones the policy names.
func roleTeams(t *testing.T, policies string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(policies, "data.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	teams := map[string]string{}
	role := regexp.MustCompile(`(?m)^\s*- id:\s*(\S+)\s*\n(?:\s+\w+:.*\n)*?\s+team:\s*(\S+)\s*$`)
	for _, m := range role.FindAllSubmatch(b, -1) {
		teams[string(m[1])] = string(m[2])
	}
	for _, id := range []string{"module_lead", "sre", "qa", "management"} {
		if teams[id] == "" {
			t.Fatalf("policies/data.yaml names no team for role %s (found %v)", id, teams)
		}
	}
	return teams
}

// github delivers a GitHub webhook and requires 202.
func (r *rig) github(event string, payload []byte) {
	r.t.Helper()
	id := fmt.Sprintf("%s-%d", strings.ReplaceAll(r.t.Name(), "/", "-"), r.seq.Add(1))
	if code, body := r.s.deliver(event, id, payload); code != http.StatusAccepted {
		r.t.Fatalf("%s delivery: %d %s", event, code, body)
	}
}

// jenkinsOK posts to /webhooks/jenkins with the token in the query, as the
// Notification plugin (which can only set a URL) does, and requires 202.
func (r *rig) jenkinsOK(payload []byte) {
	r.t.Helper()
	resp, err := http.Post(r.s.url("/webhooks/jenkins?token="+jenkinsToken), "application/json;charset=UTF-8", bytes.NewReader(payload))
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusAccepted {
		r.t.Fatalf("jenkins delivery: %d %s, want 202", resp.StatusCode, body)
	}
}

// settle waits until pull request n is evaluated on all its evidence.
func (r *rig) settle(n int) pull {
	r.t.Helper()
	return r.s.settled("Codertocat", "Hello-World", n)
}

// statuses are the status posts so far, the server's address replaced.
func (r *rig) statuses() []statusPost {
	return normalizeHost(r.gh.Statuses(), r.s.addr)
}

// last is the newest status posted on sha, or nil.
func (r *rig) last(sha string) map[string]any {
	var out map[string]any
	for _, p := range r.gh.Statuses() {
		if strings.HasSuffix(p.Path, "/"+sha) {
			out = p.Body
		}
	}
	return out
}

// ---- payloads, each derived from a recorded one ----

// recorded decodes a recorded webhook payload.
func recorded(t testing.TB, name string) map[string]any {
	t.Helper()
	return fixtureMap(t, "github/"+name)
}

// object returns m[key] as an object.
func object(m map[string]any, key string) map[string]any { return m[key].(map[string]any) }

// clone deep-copies a decoded JSON value.
func clone(t testing.TB, m map[string]any) map[string]any {
	t.Helper()
	var out map[string]any
	if err := json.Unmarshal(mustJSON(t, m), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// opened is pull_request.opened.json renumbered to n, with head and body
// replaced. It returns the payload and its pull_request object, which is
// what GitHub's REST API then answers for the pull request.
func opened(t testing.TB, n int, head, body string) ([]byte, map[string]any) {
	t.Helper()
	m := recorded(t, "pull_request.opened.json")
	m["number"] = n
	pr := object(m, "pull_request")
	pr["number"], pr["body"] = n, body
	object(pr, "head")["sha"] = head
	return mustJSON(t, m), clone(t, pr)
}

// synchronize is pull_request.synchronize.json renumbered to n: a push
// moved the head from before to after at updatedAt (GitHub's clock; the
// recorded push has the opened payload's time, and votes are placed on
// heads by it).
func synchronize(t testing.TB, n int, before, after, body, updatedAt string) ([]byte, map[string]any) {
	t.Helper()
	m := recorded(t, "pull_request.synchronize.json")
	m["number"], m["before"], m["after"] = n, before, after
	pr := object(m, "pull_request")
	pr["number"], pr["body"], pr["updated_at"] = n, body, updatedAt
	object(pr, "head")["sha"] = after
	return mustJSON(t, m), clone(t, pr)
}

// approval is pull_request_review.submitted.approved.json moved onto the
// pull request pr (a REST object as opened returns it) of the recorded
// repository: user approves commit at submittedAt. GitHub's pull_request
// object in a review payload is the pull request at submission time, so its
// updated_at is submittedAt too (as in the recording).
func approval(t testing.TB, pr map[string]any, id int, user, commit, submittedAt string) ([]byte, map[string]any) {
	t.Helper()
	m := recorded(t, "pull_request_review.submitted.approved.json")
	opened := recorded(t, "pull_request.opened.json")
	m["repository"] = opened["repository"]
	p := clone(t, pr)
	p["updated_at"] = submittedAt
	m["pull_request"] = p
	rv := object(m, "review")
	rv["id"], rv["commit_id"], rv["submitted_at"] = id, commit, submittedAt
	object(rv, "user")["login"] = user
	object(m, "sender")["login"] = user
	return mustJSON(t, m), clone(t, rv)
}

// comment is issue_comment.created.json moved onto pull request n of the
// recorded repository: user wrote body at createdAt as comment id.
func comment(t testing.TB, n int, id int64, user, body, createdAt string) ([]byte, map[string]any) {
	t.Helper()
	m := recorded(t, "issue_comment.created.json")
	opened := recorded(t, "pull_request.opened.json")
	m["repository"] = opened["repository"]
	issue := object(m, "issue")
	issue["number"] = n
	c := object(m, "comment")
	c["id"], c["body"], c["created_at"], c["updated_at"] = id, body, createdAt, createdAt
	object(c, "user")["login"] = user
	object(m, "sender")["login"] = user
	return mustJSON(t, m), clone(t, c)
}

// mergedPull is pull_request.closed.merged.json as GitHub lists it among
// the closed pull requests into the release branch ("changes" in the
// recorded pull request): renumbered to n, based on that branch, merged
// as commit mergeSHA, its body linking issue #issue.
func mergedPull(t testing.TB, n int, mergeSHA string, issue int) map[string]any {
	t.Helper()
	m := recorded(t, "pull_request.closed.merged.json")
	opened := recorded(t, "pull_request.opened.json")
	pr := object(m, "pull_request")
	pr["number"], pr["merge_commit_sha"] = n, mergeSHA
	pr["body"] = fmt.Sprintf("%s\n\nCloses #%d", pr["body"], issue)
	base := object(pr, "base")
	base["ref"], base["repo"] = "changes", opened["repository"]
	return pr
}

// apiBuild is the part of a build in GET /api/v1/pulls/… the tests read.
type apiBuild struct {
	Number          int64     `json:"number"`
	HeadSHA         string    `json:"head_sha"`
	MergeSHA        string    `json:"merge_sha"`
	Result          string    `json:"result"`
	Tests           *apiTests `json:"tests"`
	Coverage        *apiCov   `json:"coverage"`
	Vulnerabilities *apiVulns `json:"vulnerabilities"`
}

type apiTests struct {
	Total int `json:"total"`
}

type apiCov struct {
	Line float64 `json:"line"`
}

type apiVulns struct {
	Medium int    `json:"medium"`
	Report string `json:"report"`
}

// builds returns the Jenkins builds the gatekeeper keeps for pull request
// n, every head's, and the base branch's baseline build number (0: none).
func (r *rig) builds(n int) ([]apiBuild, int64) {
	r.t.Helper()
	resp, err := http.Get(r.s.url(fmt.Sprintf("/api/v1/pulls/Codertocat/Hello-World/%d", n)))
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	var v struct {
		Evidence struct {
			Builds   []apiBuild `json:"builds"`
			Baseline *apiBuild  `json:"baseline"`
		} `json:"evidence"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		r.t.Fatal(err)
	}
	var base int64
	if v.Evidence.Baseline != nil {
		base = v.Evidence.Baseline.Number
	}
	return v.Evidence.Builds, base
}
