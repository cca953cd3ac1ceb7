package test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// fakeRepo is a fake GitHub for Codertocat/Hello-World that keeps state the
// way GitHub does while a release goes through: the pull requests as the
// last webhook described them, their reviews, the vote comments, the pull
// requests merged into the release branch, team memberships. It answers
// every REST call the gatekeeper's sources, publisher and responder make,
// with recorded responses or objects taken from recorded payloads, and
// records what the gatekeeper posted. The harness's fakeGitHub answers
// with the opened pull request whatever happened since; a release needs a
// body that changes, a head that moves and teams, hence this one.
type fakeRepo struct {
	*httptest.Server
	t *testing.T

	mu        sync.Mutex
	repo      json.RawMessage            // repository object of the opened payload
	created   []byte                     // recorded 201 body of POST …/statuses/{sha}
	pulls     map[int]map[string]any     // REST pull request objects by number
	reviews   map[int][]map[string]any   // REST reviews by pull request number
	comments  map[int64]map[string]any   // issue comments by id
	merged    []map[string]any           // closed pull requests into the release branch
	members   map[string]map[string]bool // "org/slug" → login → active member
	statuses  []statusPost
	tips      map[string]string // branch → tip; master is baseSHA unless moved
	reactions []reactionPost
	replies   []replyPost
	// requested counts the requests received, by "METHOD path".
	requested map[string]int
}

// reactionPost is one POST …/issues/comments/{id}/reactions.
type reactionPost struct {
	CommentID int64  `json:"comment_id"`
	Content   string `json:"content"`
}

// replyPost is one POST …/issues/{n}/comments.
type replyPost struct {
	Number int    `json:"number"`
	Body   string `json:"body"`
}

func newFakeRepo(t *testing.T) *fakeRepo {
	t.Helper()
	f := &fakeRepo{
		t: t, pulls: map[int]map[string]any{}, reviews: map[int][]map[string]any{},
		comments: map[int64]map[string]any{}, members: map[string]map[string]bool{},
	}
	var exchanges []struct {
		Method   string          `json:"method"`
		Status   int             `json:"status"`
		Response json.RawMessage `json:"response"`
	}
	if err := json.Unmarshal(fixture(t, "github/rest/create-status.recorded-exchange.json"), &exchanges); err != nil {
		t.Fatal(err)
	}
	for _, x := range exchanges {
		if x.Method == "post" && x.Status == http.StatusCreated {
			f.created = x.Response
			break
		}
	}
	var opened struct {
		Repository json.RawMessage `json:"repository"`
	}
	if err := json.Unmarshal(fixture(t, "github/pull_request.opened.json"), &opened); err != nil || f.created == nil {
		t.Fatalf("reading recorded responses: %v", err)
	}
	f.repo = opened.Repository
	f.Server = httptest.NewServer(http.HandlerFunc(f.serveHTTP))
	t.Cleanup(f.Close)
	return f
}

const repoPath = "/repos/Codertocat/Hello-World"

var (
	statusesRoute   = regexp.MustCompile(`^` + repoPath + `/statuses/([0-9a-f]{40})$`)
	pullRoute       = regexp.MustCompile(`^` + repoPath + `/pulls/([0-9]+)$`)
	reviewsRoute    = regexp.MustCompile(`^` + repoPath + `/pulls/([0-9]+)/reviews$`)
	reviewRoute     = regexp.MustCompile(`^` + repoPath + `/pulls/([0-9]+)/reviews/([0-9]+)$`)
	shaPattern      = regexp.MustCompile(`^[0-9a-f]{40}$`)
	compareRoute    = regexp.MustCompile(`^` + repoPath + `/compare/([^/]+)\.\.\.([0-9a-f]{40})$`)
	combinedRoute   = regexp.MustCompile(`^` + repoPath + `/commits/([0-9a-f]{40})/status$`)
	listStatuses    = regexp.MustCompile(`^` + repoPath + `/commits/([0-9a-f]{40})/statuses$`)
	checkRunsRoute  = regexp.MustCompile(`^` + repoPath + `/commits/[0-9a-f]{40}/check-runs$`)
	membershipRoute = regexp.MustCompile(`^/orgs/([^/]+)/teams/([^/]+)/memberships/([^/]+)$`)
	membersRoute    = regexp.MustCompile(`^/orgs/([^/]+)/teams/([^/]+)/members$`)
	commentRoute    = regexp.MustCompile(`^` + repoPath + `/issues/comments/([0-9]+)$`)
	reactionRoute   = regexp.MustCompile(`^` + repoPath + `/issues/comments/([0-9]+)/reactions$`)
	replyRoute      = regexp.MustCompile(`^` + repoPath + `/issues/([0-9]+)/comments$`)
)

// setTip moves branch to sha, as a push does.
func (f *fakeRepo) setTip(branch, sha string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.tips == nil {
		f.tips = map[string]string{}
	}
	f.tips[branch] = sha
}

func (f *fakeRepo) serveHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	get := r.Method == http.MethodGet
	post := r.Method == http.MethodPost
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.requested == nil {
		f.requested = map[string]int{}
	}
	f.requested[r.Method+" "+p]++
	switch {
	case post && statusesRoute.MatchString(p):
		var body map[string]any
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		f.statuses = append(f.statuses, statusPost{Path: p, Body: body})
		writeJSONStatus(w, http.StatusCreated, f.created)
	case get && p == repoPath:
		writeJSONStatus(w, http.StatusOK, f.repo)
	case get && strings.HasPrefix(p, repoPath+"/branches/"):
		name := strings.TrimPrefix(p, repoPath+"/branches/")
		tip := f.tips[name]
		if tip == "" && name == "master" {
			tip = baseSHA
		}
		if tip == "" {
			notFoundJSON(w)
			return
		}
		writeJSONStatus(w, http.StatusOK, branchJSON(name, tip))
	case get && pullRoute.MatchString(p):
		n, _ := strconv.Atoi(pullRoute.FindStringSubmatch(p)[1])
		pr, ok := f.pulls[n]
		if !ok {
			notFoundJSON(w)
			return
		}
		writeJSONStatus(w, http.StatusOK, mustJSON(f.t, pr))
	case get && reviewsRoute.MatchString(p):
		n, _ := strconv.Atoi(reviewsRoute.FindStringSubmatch(p)[1])
		list := f.reviews[n]
		if list == nil {
			list = []map[string]any{}
		}
		writeJSONStatus(w, http.StatusOK, mustJSON(f.t, list))
	case get && reviewRoute.MatchString(p):
		// GET …/pulls/{n}/reviews/{id}: the review, 404 when GitHub
		// has none by that id on that pull request.
		m := reviewRoute.FindStringSubmatch(p)
		n, _ := strconv.Atoi(m[1])
		id, _ := strconv.ParseFloat(m[2], 64)
		for _, rv := range f.reviews[n] {
			if rv["id"] == id {
				writeJSONStatus(w, http.StatusOK, mustJSON(f.t, rv))
				return
			}
		}
		notFoundJSON(w)
	case get && compareRoute.MatchString(p):
		// GitHub's documented compare shape: the merge commits of the
		// pull requests merged into the release branch.
		var commits []any
		for _, m := range f.merged {
			commits = append(commits, map[string]any{
				"sha":    m["merge_commit_sha"],
				"commit": map[string]any{"message": "Merge pull request", "committer": map[string]any{"name": "GitHub", "date": m["merged_at"]}},
			})
		}
		if commits == nil {
			commits = []any{}
		}
		status := "ahead"
		if len(commits) == 0 {
			status = "identical"
		}
		// base_commit is the commit the base resolves to: a commit sha
		// names itself (as on GitHub), a branch name its tip.
		base := compareRoute.FindStringSubmatch(p)[1]
		tip := f.tips[base]
		if tip == "" && base == "master" {
			tip = baseSHA
		}
		if shaPattern.MatchString(base) {
			tip = base
		}
		var baseCommit any
		if tip != "" {
			baseCommit = map[string]any{"sha": tip}
		}
		writeJSONStatus(w, http.StatusOK, mustJSON(f.t, map[string]any{
			"status": status, "ahead_by": len(commits), "behind_by": 0, "total_commits": len(commits), "commits": commits, "files": []any{},
			"base_commit": baseCommit,
		}))
	case get && p == repoPath+"/pulls":
		var list []map[string]any
		for _, m := range f.merged {
			if base, _ := m["base"].(map[string]any); r.URL.Query().Get("base") == "" || base["ref"] == r.URL.Query().Get("base") {
				list = append(list, m)
			}
		}
		if list == nil {
			list = []map[string]any{}
		}
		writeJSONStatus(w, http.StatusOK, mustJSON(f.t, list))
	case get && listStatuses.MatchString(p):
		// GET …/commits/{sha}/statuses, newest first, each the recorded
		// 201 body (its creator the token's user) carrying what was
		// posted: the gatekeeper reads back a post whose outcome it
		// could not record.
		sha := listStatuses.FindStringSubmatch(p)[1]
		list := []map[string]any{}
		for i := len(f.statuses) - 1; i >= 0; i-- {
			sp := f.statuses[i]
			if statusesRoute.FindStringSubmatch(sp.Path)[1] != sha {
				continue
			}
			var st map[string]any
			if err := json.Unmarshal(f.created, &st); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			for _, k := range []string{"state", "description", "target_url", "context"} {
				st[k] = sp.Body[k]
			}
			list = append(list, st)
		}
		writeJSONStatus(w, http.StatusOK, mustJSON(f.t, list))
	case get && combinedRoute.MatchString(p):
		// No other system posts statuses on the head in these tests.
		fmt.Fprintf(w, `{"state":"pending","sha":%q,"total_count":0,"statuses":[]}`, combinedRoute.FindStringSubmatch(p)[1])
	case get && checkRunsRoute.MatchString(p):
		writeJSONStatus(w, http.StatusOK, []byte(`{"total_count":0,"check_runs":[]}`))
	case get && membershipRoute.MatchString(p):
		// PROTOCOLS.md §2: 200 {url, role, state} for a member, 404
		// for anybody else.
		m := membershipRoute.FindStringSubmatch(p)
		if !f.members[m[1]+"/"+m[2]][m[3]] {
			notFoundJSON(w)
			return
		}
		writeJSONStatus(w, http.StatusOK, mustJSON(f.t, map[string]any{
			"url": f.URL + p, "role": "member", "state": "active",
		}))
	case get && membersRoute.MatchString(p):
		// GET /orgs/{org}/teams/{team_slug}/members: the team's active
		// members as simple-user objects (one page: these teams are
		// small), 404 for a team GitHub does not show.
		m := membersRoute.FindStringSubmatch(p)
		team, ok := f.members[m[1]+"/"+m[2]]
		if !ok {
			notFoundJSON(w)
			return
		}
		var logins []string
		for login, active := range team {
			if active {
				logins = append(logins, login)
			}
		}
		sort.Strings(logins)
		list := []map[string]any{}
		for i, login := range logins {
			list = append(list, map[string]any{"login": login, "id": i + 1, "type": "User", "site_admin": false,
				"url": "https://api.github.com/users/" + login})
		}
		writeJSONStatus(w, http.StatusOK, mustJSON(f.t, list))
	case get && commentRoute.MatchString(p):
		id, _ := strconv.ParseInt(commentRoute.FindStringSubmatch(p)[1], 10, 64)
		c, ok := f.comments[id]
		if !ok {
			notFoundJSON(w)
			return
		}
		writeJSONStatus(w, http.StatusOK, mustJSON(f.t, c))
	case post && reactionRoute.MatchString(p):
		id, _ := strconv.ParseInt(reactionRoute.FindStringSubmatch(p)[1], 10, 64)
		var body struct {
			Content string `json:"content"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if _, ok := f.comments[id]; !ok {
			notFoundJSON(w)
			return
		}
		f.reactions = append(f.reactions, reactionPost{CommentID: id, Content: body.Content})
		// The documented reaction object (docs.github.com/rest/reactions).
		writeJSONStatus(w, http.StatusCreated, mustJSON(f.t, map[string]any{
			"id": len(f.reactions), "node_id": "MDg6UmVhY3Rpb24x", "content": body.Content,
			"user": map[string]any{"login": "release-gatekeeper[bot]", "type": "Bot"}, "created_at": "2020-12-29T06:00:00Z",
		}))
	case get && replyRoute.MatchString(p): // the GitHub source's list of comments
		n := replyRoute.FindStringSubmatch(p)[1]
		list := []map[string]any{}
		// since: only comments created or edited at or after it.
		since := r.URL.Query().Get("since")
		for _, c := range f.comments {
			if since != "" && fmt.Sprint(c["updated_at"]) < since {
				continue
			}
			if strings.HasSuffix(fmt.Sprint(c["issue_url"]), "/issues/"+n) {
				list = append(list, c)
			}
		}
		sort.Slice(list, func(i, j int) bool { return fmt.Sprint(list[i]["id"]) < fmt.Sprint(list[j]["id"]) })
		writeJSONStatus(w, http.StatusOK, mustJSON(f.t, list))
	case post && replyRoute.MatchString(p):
		n, _ := strconv.Atoi(replyRoute.FindStringSubmatch(p)[1])
		var body struct {
			Body string `json:"body"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		f.replies = append(f.replies, replyPost{Number: n, Body: body.Body})
		// The recorded comment object, renumbered, with the reply's body.
		c := fixtureMap(f.t, "github/issue_comment.created.json")["comment"].(map[string]any)
		c["id"], c["body"] = 990000+len(f.replies), body.Body
		writeJSONStatus(w, http.StatusCreated, mustJSON(f.t, c))
	default:
		notFoundJSON(w)
	}
}

func writeJSONStatus(w http.ResponseWriter, code int, body []byte) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	w.Write(body)
}

func notFoundJSON(w http.ResponseWriter) {
	writeJSONStatus(w, http.StatusNotFound, []byte(`{"message":"Not Found","documentation_url":"https://docs.github.com/rest"}`))
}

// setPull makes GitHub describe pull request pr (a REST pull object).
func (f *fakeRepo) setPull(pr map[string]any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pulls[int(pr["number"].(float64))] = pr
}

// addReview lists a review (the webhook's review object) in the REST
// answer, with the REST spelling of its state.
func (f *fakeRepo) addReview(number int, review map[string]any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	cp := map[string]any{}
	for k, v := range review {
		cp[k] = v
	}
	cp["state"] = strings.ToUpper(cp["state"].(string))
	f.reviews[number] = append(f.reviews[number], cp)
}

// addComment makes an issue comment readable by id.
func (f *fakeRepo) addComment(c map[string]any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.comments[int64(c["id"].(float64))] = c
}

// addMerged lists a merged pull request into the release branch.
func (f *fakeRepo) addMerged(pr map[string]any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.merged = append(f.merged, pr)
}

// addMember makes login an active member of team "org/slug".
func (f *fakeRepo) addMember(team, login string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.members[team] == nil {
		f.members[team] = map[string]bool{}
	}
	f.members[team][login] = true
}

// Statuses returns the status posts received so far.
func (f *fakeRepo) Statuses() []statusPost {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]statusPost(nil), f.statuses...)
}

// Reactions returns the reactions posted, ordered by comment.
func (f *fakeRepo) Reactions() []reactionPost {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := append([]reactionPost(nil), f.reactions...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].CommentID < out[j].CommentID })
	return out
}

// Replies returns the comments posted.
func (f *fakeRepo) Replies() []replyPost {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]replyPost(nil), f.replies...)
}

// Requested returns how many requests "METHOD path" the fake received.
func (f *fakeRepo) Requested(methodPath string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requested[methodPath]
}
