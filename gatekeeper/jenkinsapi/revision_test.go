package jenkinsapi

import (
	"context"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// What Jenkins' REST API exports of a GitHub Branch Source build, checked
// in the plugins' sources:
//   - jenkins.scm.api.SCMRevisionAction: getRevision() is @Exported.
//   - PullRequestSCMRevision (github-branch-source) extends scm-api's
//     ChangeRequestSCMRevision: getPullHash() is @Exported, getBaseHash() is
//     not; ChangeRequestSCMRevision exports getTarget() (the base branch
//     revision, an AbstractGitSCMSource$SCMRevisionImpl built from
//     baseHash, whose getHash() is @Exported) and isMerge() ("merge": false
//     under the HEAD checkout strategy).
//   - All of these are plain @ExportedBean (visibility 1), so Stapler's
//     depth pruning (TreePruner.ByDepth(1-depth)) drops them below the
//     second level: at ?depth=1 a build's SCMRevisionAction comes as
//     {"revision":{"_class":…}} alone. git's BuildData is
//     @ExportedBean(defaultVisibility = 999) and always comes whole;
//     CauseAction exports causes at visibility 2 and a cause's
//     shortDescription at 3. Only ?tree= names fields whatever their depth.

// prRevision is a PullRequestSCMRevision as Jenkins exports it: no
// baseHash, the base in target.hash.
func prRevision(head, base string, merge bool) map[string]any {
	return map[string]any{
		"_class": "jenkins.scm.api.SCMRevisionAction",
		"revision": map[string]any{
			"_class":        "org.jenkinsci.plugins.github_branch_source.PullRequestSCMRevision",
			"deterministic": true,
			"merge":         merge,
			"pullHash":      head,
			"target": map[string]any{
				"_class":        "jenkins.plugins.git.AbstractGitSCMSource$SCMRevisionImpl",
				"deterministic": true,
				"hash":          base,
			},
		},
	}
}

// runWith derives a WorkflowRun (see workflowRun) whose SCMRevisionAction
// is rev and whose repository BuildData built built from head (built ==
// head: nothing was merged), plus extra actions.
func runWith(tb testing.TB, job string, rev map[string]any, head, built string, extra ...any) map[string]any {
	tb.Helper()
	m := fixtureMap(tb, "build.api.json")
	m["_class"] = "org.jenkinsci.plugins.workflow.job.WorkflowRun"
	m["url"] = "http://localhost:32769/" + job + "/10/"
	actions := []any{
		map[string]any{
			"_class":             "hudson.plugins.git.util.BuildData",
			"buildsByBranchName": map[string]any{"PR-2": gitPair(head, built)},
			"lastBuiltRevision":  map[string]any{"SHA1": built},
			"remoteUrls":         []any{"https://github.com/Codertocat/Hello-World.git"},
		},
		rev,
	}
	m["actions"] = append(actions, extra...)
	return m
}

// depthOne is what Stapler writes at ?depth=1 for m: every
// SCMRevisionAction's revision keeps its _class only (see above).
func depthOne(m map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	var actions []any
	for _, a := range m["actions"].([]any) {
		am, ok := a.(map[string]any)
		if rv, has := am["revision"].(map[string]any); ok && has {
			pruned := map[string]any{}
			for k, v := range am {
				pruned[k] = v
			}
			pruned["revision"] = map[string]any{"_class": rv["_class"]}
			a = pruned
		}
		actions = append(actions, a)
	}
	out["actions"] = actions
	return out
}

// serveRun serves m at job's build 10 as Jenkins would: whole when the
// request's tree names the nested fields, pruned as at depth=1 otherwise.
func serveRun(tb testing.TB, f *fakeJenkins, job string, m map[string]any) {
	full, pruned := mustJSON(tb, m), mustJSON(tb, depthOne(m))
	f.handle("/"+job+"/10/api/json", func(w http.ResponseWriter, r *http.Request) {
		tree := r.URL.Query().Get("tree")
		if strings.Contains(tree, "pullHash") && strings.Contains(tree, "target[hash]") {
			writeJSON(w, full)
			return
		}
		writeJSON(w, pruned)
	})
}

func revisionClient(tb testing.TB) (*fakeJenkins, *Client) {
	tb.Helper()
	f, url := newFake(tb, "")
	c, err := New(Options{URL: url, Clock: fixedClock{}})
	if err != nil {
		tb.Fatal(err)
	}
	return f, c
}

// TestBuildBaseFromExportedTarget (review F11): the base of a PR-merge
// build is what Jenkins exports, revision.target.hash; baseHash is never
// served. Before the fix BaseSHA stayed "" and every release waited for
// "a PR-merge build on master" for ever.
func TestBuildBaseFromExportedTarget(t *testing.T) {
	t.Parallel()
	f, c := revisionClient(t)
	serveRun(t, f, prJob, runWith(t, prJob, prRevision(headSHA, baseSHA, true), headSHA, mergeSHA))
	got, err := c.Build(context.Background(), prJob, 10)
	if err != nil {
		t.Fatal(err)
	}
	if got.HeadSHA != headSHA || got.BaseSHA != baseSHA || got.MergeSHA != mergeSHA || got.Strategy != "merge" {
		t.Errorf("Build = head %q base %q merge %q strategy %q; want %s %s %s merge", got.HeadSHA, got.BaseSHA, got.MergeSHA, got.Strategy, headSHA, baseSHA, mergeSHA)
	}
}

// TestBuildBaseHashIsNotRead: a baseHash field (which no Jenkins exports)
// is not taken for the base: only target.hash is.
func TestBuildBaseHashIsNotRead(t *testing.T) {
	t.Parallel()
	f, c := revisionClient(t)
	rev := prRevision(headSHA, baseSHA, true)
	rv := rev["revision"].(map[string]any)
	delete(rv, "target")
	rv["baseHash"] = baseSHA
	serveRun(t, f, prJob, runWith(t, prJob, rev, headSHA, mergeSHA))
	got, err := c.Build(context.Background(), prJob, 10)
	if err != nil {
		t.Fatal(err)
	}
	if got.BaseSHA != "" || got.HeadSHA != headSHA {
		t.Errorf("Build = head %q base %q; want %s and no base", got.HeadSHA, got.BaseSHA, headSHA)
	}
}

// TestHeadOnlyBuildIsNotPRMerge (review F8): a plain PR-<n> job built with
// the HEAD strategy tested the branch alone; its target.hash is the pull
// request's base.sha, not a merged tip. It must come back as a "head"
// build, which never counts as the PR-merge build.
func TestHeadOnlyBuildIsNotPRMerge(t *testing.T) {
	t.Parallel()
	const job = "job/Codertocat/job/Hello-World/job/PR-2"
	for _, tc := range []struct {
		name         string
		rev          map[string]any
		built        string
		wantStrategy string
	}{
		// Jenkins says it: merge false.
		{"merge false", prRevision(headSHA, baseSHA, false), headSHA, "head"},
		// Jenkins says it merged: a head that already holds the base
		// tip merges to itself, and that is the merge result.
		{"merge true, head built", prRevision(headSHA, baseSHA, true), headSHA, ""},
		// No merge field (a plugin before scm-api 2.2): the built commit
		// decides, and the head built is no merge.
		{"no merge field, head built", func() map[string]any {
			r := prRevision(headSHA, baseSHA, true)
			delete(r["revision"].(map[string]any), "merge")
			return r
		}(), headSHA, "head"},
		{"no merge field, merge built", func() map[string]any {
			r := prRevision(headSHA, baseSHA, true)
			delete(r["revision"].(map[string]any), "merge")
			return r
		}(), mergeSHA, ""},
		{"merge true, merge built", prRevision(headSHA, baseSHA, true), mergeSHA, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f, c := revisionClient(t)
			serveRun(t, f, job, runWith(t, job, tc.rev, headSHA, tc.built))
			got, err := c.Build(context.Background(), job, 10)
			if err != nil {
				t.Fatal(err)
			}
			if got.Strategy != tc.wantStrategy || got.HeadSHA != headSHA {
				t.Errorf("Build = strategy %q head %q; want %q %s", got.Strategy, got.HeadSHA, tc.wantStrategy, headSHA)
			}
			ev := prEvidence(got)
			if cur := ev.CurrentBuild(); (cur != nil) != (tc.wantStrategy != "head") {
				t.Errorf("CurrentBuild() = %v with strategy %q", cur, got.Strategy)
			}
		})
	}
}

// TestMergeJobHeadBuildIsNotPRMerge: even a PR-<n>-merge job's build is
// no merge build when Jenkins says it built the head alone.
func TestMergeJobHeadBuildIsNotPRMerge(t *testing.T) {
	t.Parallel()
	f, c := revisionClient(t)
	serveRun(t, f, prJob, runWith(t, prJob, prRevision(headSHA, baseSHA, false), headSHA, headSHA))
	got, err := c.Build(context.Background(), prJob, 10)
	if err != nil {
		t.Fatal(err)
	}
	if got.Strategy != "head" {
		t.Errorf("Build strategy %q, want head", got.Strategy)
	}
}

// replayCause is the CauseAction of a Replay (edited Jenkinsfile).
func replayCause() map[string]any {
	return map[string]any{
		"_class": "hudson.model.CauseAction",
		"causes": []any{
			map[string]any{"_class": "org.jenkinsci.plugins.workflow.cps.replay.ReplayCause", "shortDescription": "Replayed #9"},
			map[string]any{"_class": "hudson.model.Cause$UserIdCause", "shortDescription": "Started by user mallory", "userId": "mallory", "userName": "mallory"},
		},
	}
}

// TestReplayedBuildIsRefused (review F5): a Replay runs a Jenkinsfile
// edited in Jenkins with the original's revision; it is Jenkins' account
// of a build the repository's Jenkinsfile did not make, and never counts.
func TestReplayedBuildIsRefused(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		cause map[string]any
		want  string
	}{
		{"replay", replayCause(), "Replayed #9"},
		{"restart from stage", map[string]any{
			"_class": "hudson.model.CauseAction",
			"causes": []any{map[string]any{
				"_class":           "org.jenkinsci.plugins.pipeline.modeldefinition.causes.RestartDeclarativePipelineCause",
				"shortDescription": "Restarted from build #9, stage Image scan",
			}},
		}, "Restarted from build #9, stage Image scan"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f, c := revisionClient(t)
			serveRun(t, f, prJob, runWith(t, prJob, prRevision(headSHA, baseSHA, true), headSHA, mergeSHA, tc.cause))
			got, err := c.Build(context.Background(), prJob, 10)
			if err != nil {
				t.Fatal(err)
			}
			if !got.Verified || got.Refused == "" || !strings.Contains(got.Refused, tc.want) {
				t.Errorf("Build = verified %v, refused %q; want verified and refused naming %q", got.Verified, got.Refused, tc.want)
			}
			// Jenkins' facts are kept, for the page.
			if got.HeadSHA != headSHA || got.Result != "SUCCESS" {
				t.Errorf("Build = head %q result %q; want Jenkins' facts", got.HeadSHA, got.Result)
			}
			if cur := prEvidence(got).CurrentBuild(); cur != nil {
				t.Errorf("CurrentBuild() = #%d (refused %q), want none", cur.Number, cur.Refused)
			}
		})
	}
}

// TestOrdinaryCausesAreNotRefused: builds started by a push, a branch
// event, a user or a timer count.
func TestOrdinaryCausesAreNotRefused(t *testing.T) {
	t.Parallel()
	f, c := revisionClient(t)
	serveRun(t, f, prJob, runWith(t, prJob, prRevision(headSHA, baseSHA, true), headSHA, mergeSHA, map[string]any{
		"_class": "hudson.model.CauseAction",
		"causes": []any{
			map[string]any{"_class": "jenkins.branch.BranchEventCause", "shortDescription": "Pull request #2 updated"},
			map[string]any{"_class": "hudson.model.Cause$UserIdCause", "shortDescription": "Started by user alice"},
		},
	}))
	got, err := c.Build(context.Background(), prJob, 10)
	if err != nil {
		t.Fatal(err)
	}
	if got.Refused != "" {
		t.Errorf("Build refused %q, want counted", got.Refused)
	}
	if cur := prEvidence(got).CurrentBuild(); cur == nil {
		t.Error("CurrentBuild() = nil, want the build")
	}
}

// prEvidence is Codertocat/Hello-World#2 at headSHA with b.
func prEvidence(b gatekeeper.Build) *gatekeeper.Evidence {
	key := gatekeeper.PullKey{Owner: "Codertocat", Repo: "Hello-World", Number: 2}
	return &gatekeeper.Evidence{PR: &gatekeeper.PullRequest{Key: key, HeadSHA: headSHA}, Builds: []gatekeeper.Build{b}}
}

// TestBuildForHeadSkipsRefusedBuilds: when the notification of the
// original build was lost, the lookup must find it, not stop at its newer
// Replay (which would then be the only, and refused, build of the head).
func TestBuildForHeadSkipsRefusedBuilds(t *testing.T) {
	t.Parallel()
	key := gatekeeper.PullKey{Owner: "Codertocat", Repo: "Hello-World", Number: 2}
	f, c := revisionClient(t)
	jobJSON := fixtureMap(t, "job.api.json")
	jobJSON["name"] = "PR-2-merge"
	jobJSON["url"] = "http://localhost:32769/" + prJob + "/"
	jobJSON["builds"] = []any{
		map[string]any{"number": 11, "url": "http://localhost:32769/" + prJob + "/11/"},
		map[string]any{"number": 10, "url": "http://localhost:32769/" + prJob + "/10/"},
	}
	f.serve("/"+prJob+"/api/json", mustJSON(t, jobJSON))
	replay := runWith(t, prJob, prRevision(headSHA, baseSHA, true), headSHA, mergeSHA, replayCause())
	replay["number"] = 11
	f.serve("/"+prJob+"/11/api/json", mustJSON(t, replay))
	serveRun(t, f, prJob, runWith(t, prJob, prRevision(headSHA, baseSHA, true), headSHA, mergeSHA))
	got, err := c.BuildForHead(context.Background(), key, headSHA, 5)
	if err != nil {
		t.Fatal(err)
	}
	if got.Number != 10 || got.Refused != "" {
		t.Errorf("BuildForHead = #%d (refused %q), want #10", got.Number, got.Refused)
	}
}

// TestBuildTreeNamesEveryWireField: with a tree, Jenkins writes only the
// fields named, so a field added to the wire types but not to buildTree
// would silently always be empty.
func TestBuildTreeNamesEveryWireField(t *testing.T) {
	t.Parallel()
	words := map[string]bool{}
	for _, w := range strings.FieldsFunc(buildTree, func(r rune) bool { return r == ',' || r == '[' || r == ']' }) {
		words[w] = true
	}
	seen := map[reflect.Type]bool{}
	var walk func(reflect.Type, string)
	walk = func(typ reflect.Type, path string) {
		for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice || typ.Kind() == reflect.Map {
			typ = typ.Elem()
		}
		if typ.Kind() != reflect.Struct || seen[typ] {
			return
		}
		seen[typ] = true
		for i := 0; i < typ.NumField(); i++ {
			f := typ.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "" || name == "-" {
				continue
			}
			// _class is written for every object whatever the tree.
			if name != "_class" && !words[name] {
				t.Errorf("buildTree does not name %s%s", path, name)
			}
			walk(f.Type, path+name+".")
		}
	}
	walk(reflect.TypeOf(wireBuild{}), "")
}
