package jenkinsapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// rawJSON receives an answer undecoded. gojenkins drops decode errors, so
// the package decodes answers itself where it needs fields gojenkins'
// structs lack (_class, SCMRevisionAction) or where a wrong shape must be
// an error.
type rawJSON = json.RawMessage

// wireBuild is the part of a build's /api/json the gatekeeper reads.
type wireBuild struct {
	Class     string       `json:"_class"`
	Number    int64        `json:"number"`
	Result    *string      `json:"result"`
	Building  bool         `json:"building"`
	Timestamp int64        `json:"timestamp"`
	Duration  int64        `json:"duration"`
	URL       string       `json:"url"`
	Actions   []wireAction `json:"actions"`
	// Artifacts are the files the build archived.
	Artifacts []wireArtifact `json:"artifacts"`
}

// wireArtifact is one archived file; relativePath is its path under
// <build>/artifact/.
type wireArtifact struct {
	FileName     string `json:"fileName"`
	RelativePath string `json:"relativePath"`
}

// wireAction is any entry of actions[]; most are {} or of no interest, so
// every field is optional.
type wireAction struct {
	Class string `json:"_class"`
	// git BuildData
	RemoteURLs         []string               `json:"remoteUrls"`
	LastBuiltRevision  *wireRevision          `json:"lastBuiltRevision"`
	BuildsByBranchName map[string]wireGitPair `json:"buildsByBranchName"`
	// SCMRevisionAction
	Revision *wireSCMRevision `json:"revision"`
	// CauseAction
	Causes []wireCause `json:"causes"`
}

// wireCause is one of a CauseAction's causes: why the build started.
type wireCause struct {
	Class            string `json:"_class"`
	ShortDescription string `json:"shortDescription"`
}

type wireRevision struct {
	SHA1 string `json:"SHA1"`
}

// wireGitPair is a git plugin Build: marked is the revision chosen to be
// built, revision the one built, which differs when a merge was made first.
type wireGitPair struct {
	Marked   wireRevision `json:"marked"`
	Revision wireRevision `json:"revision"`
}

// wireSCMRevision is an SCMRevisionAction's revision. GitHub Branch
// Source's PullRequestSCMRevision exports pullHash, and through scm-api's
// ChangeRequestSCMRevision target (the base branch revision: the base tip
// merged with under the MERGE strategy, the pull request's base.sha under
// HEAD) and merge (false under HEAD). Its baseHash is not exported by any
// version. A branch revision (AbstractGitSCMSource$SCMRevisionImpl)
// exports hash.
type wireSCMRevision struct {
	Class    string `json:"_class"`
	Hash     string `json:"hash"`
	PullHash string `json:"pullHash"`
	// Merge is nil where Jenkins does not say (scm-api before 2.2).
	Merge  *bool            `json:"merge"`
	Target *wireSCMRevision `json:"target"`
}

// buildTree names every field of a build's /api/json the gatekeeper reads.
// Stapler prunes an answer by depth and each field's visibility: at
// ?depth=1 an SCMRevisionAction's revision comes with its _class alone
// (pullHash and target are visibility 1, two levels down), while git's
// BuildData (visibility 999) and CauseAction's causes come whole. A tree
// names fields whatever their depth, and keeps the answer small.
const buildTree = "number,result,building,timestamp,duration,url," +
	"artifacts[fileName,relativePath]," +
	"actions[causes[shortDescription]," +
	"remoteUrls,lastBuiltRevision[SHA1],buildsByBranchName[marked[SHA1],revision[SHA1]]," +
	"revision[hash,pullHash,merge,target[hash]]]"

// refusedCauses are the causes of builds that are no evidence whatever
// their result: a Replay runs a Jenkinsfile edited in Jenkins (any holder
// of Run/Replay can stub tests and scans) on the original's revision, and a
// restart from a stage reruns a build's script, replayed or not, skipping
// the stages before it.
var refusedCauses = map[string]string{
	"org.jenkinsci.plugins.workflow.cps.replay.ReplayCause":                                 "replayed with a Jenkinsfile edited in Jenkins",
	"org.jenkinsci.plugins.pipeline.modeldefinition.causes.RestartDeclarativePipelineCause": "restarted from a stage",
}

// refused returns why the build's causes rule it out as evidence, "" when
// they do not.
func refused(actions []wireAction) string {
	for _, a := range actions {
		for _, c := range a.Causes {
			if why, ok := refusedCauses[c.Class]; ok {
				if d := strings.TrimSpace(c.ShortDescription); d != "" {
					why += " (" + d + ")"
				}
				return why
			}
		}
	}
	return ""
}

// Build fetches one build's result, timing and revisions; jobURL is any
// form SplitJobURL accepts. Stages and reports are left empty
// (see Enrich). The build is Verified: its facts are Jenkins' own. A build
// Jenkins does not have is ErrMissing.
func (c *Client) Build(ctx context.Context, jobURL string, number int64) (gatekeeper.Build, error) {
	r, err := newRef(jobURL, number)
	if err != nil {
		return gatekeeper.Build{}, fmt.Errorf("fetching build: %w", err)
	}
	if r.number <= 0 {
		return gatekeeper.Build{}, fmt.Errorf("fetching build of %s: no build number: %w", r, gatekeeper.ErrInvalid)
	}
	return c.build(ctx, r)
}

func (c *Client) build(ctx context.Context, r ref) (gatekeeper.Build, error) {
	b, _, err := c.fetchBuild(ctx, r)
	return b, err
}

// fetchBuild is build, also returning the build's archived artifacts.
func (c *Client) fetchBuild(ctx context.Context, r ref) (gatekeeper.Build, []wireArtifact, error) {
	var raw rawJSON
	// A tree, not a depth: see buildTree.
	if _, err := c.withContext(ctx).Requester.GetJSON(ctx, r.endpoint(), &raw, map[string]string{"tree": buildTree}); err != nil {
		return gatekeeper.Build{}, nil, fmt.Errorf("fetching build %s: %w", r, err)
	}
	var w wireBuild
	if err := json.Unmarshal(raw, &w); err != nil {
		return gatekeeper.Build{}, nil, fmt.Errorf("decoding build %s: %w", r, err)
	}
	if w.Number != r.number {
		return gatekeeper.Build{}, nil, fmt.Errorf("decoding build %s: jenkins described build %d", r, w.Number)
	}
	b := c.skeleton(r)
	b.Building = w.Building
	if w.Result != nil && !w.Building {
		b.Result = *w.Result
	}
	// The REST API is Jenkins' own account of the build, whatever its
	// state: these facts are verified.
	b.Verified, b.VerifiedAt = true, c.clock.Now()
	b.Phase = "COMPLETED"
	if b.Building {
		b.Phase = "STARTED"
	}
	b.URL = w.URL
	if w.Timestamp > 0 {
		b.StartedAt = time.UnixMilli(w.Timestamp).UTC()
	}
	b.Duration = time.Duration(w.Duration) * time.Millisecond
	b.HeadSHA, b.BaseSHA, b.MergeSHA = revisions(w.Actions, b.Key, b.Strategy)
	if b.Key.Number > 0 && b.Strategy != "head" && !mergeBuild(w.Actions, b.Strategy, b.HeadSHA, b.MergeSHA) {
		// Jenkins built the head alone (HEAD strategy): it is no
		// PR-merge build, and its base is the pull request's
		// base.sha, not a merged tip.
		b.Strategy = "head"
	}
	b.Refused = refused(w.Actions)
	b.UpdatedAt = c.clock.Now()
	return b, w.Artifacts, nil
}

// revisions recovers the pull request head, the base and the built commit
// from a build's actions (see the package documentation for the order).
func revisions(actions []wireAction, key gatekeeper.PullKey, strategy string) (head, base, built string) {
	head, base = scmRevision(actions)
	bd := buildData(actions, key)
	if bd == nil {
		return head, base, ""
	}
	if bd.LastBuiltRevision != nil {
		built = bd.LastBuiltRevision.SHA1
	}
	if head != "" || built == "" {
		return head, base, built
	}
	for _, p := range bd.BuildsByBranchName {
		if p.Revision.SHA1 == built && p.Marked.SHA1 != "" {
			return p.Marked.SHA1, base, built
		}
	}
	// Without a marked revision the built commit is the head only where
	// no merge can have happened.
	if strategy == "head" || (key.Number == 0 && strategy == "") {
		return built, base, built
	}
	return "", base, built
}

// mergeBuild reports whether a build of a PR-<n>-merge (strategy "merge")
// or PR-<n> (strategy "") job built the merge of the head into its base.
// Jenkins' revision.merge decides where it is exported: false in any
// SCMRevisionAction is a HEAD strategy build. Without it, a PR-<n>-merge
// job's name says MERGE (GitHub Branch Source names jobs so only when both
// strategies are built), while a plain PR-<n> job can be either and counts
// only when its built commit is known and is not the head (fail closed: a
// fast-forward waits).
func mergeBuild(actions []wireAction, strategy, head, built string) bool {
	said := false
	for _, a := range actions {
		if rv := a.Revision; rv != nil && rv.Merge != nil {
			if !*rv.Merge {
				return false
			}
			said = true
		}
	}
	if said || strategy == "merge" {
		return true
	}
	return head != "" && built != "" && built != head
}

// scmRevision returns the head (and base, when exported) from the build's
// SCMRevisionAction; the base is the exported target's hash. Two actions
// that disagree give no answer: guessing would pin the evidence to the
// wrong commit.
func scmRevision(actions []wireAction) (head, base string) {
	for _, a := range actions {
		rv := a.Revision
		if rv == nil {
			continue
		}
		h := rv.PullHash
		if h == "" {
			h = rv.Hash
		}
		if h == "" {
			continue
		}
		if head != "" && head != h {
			return "", ""
		}
		head = h
		if t := rv.Target; t != nil && t.Hash != "" {
			if base != "" && base != t.Hash {
				return "", ""
			}
			base = t.Hash
		}
	}
	return head, base
}

// buildData picks the git BuildData of the pull request's repository: the
// first whose remoteUrls name key's owner/repo. When the repository is not
// known, only a lone BuildData is trusted.
func buildData(actions []wireAction, key gatekeeper.PullKey) *wireAction {
	var all []*wireAction
	for i := range actions {
		if a := &actions[i]; a.LastBuiltRevision != nil || len(a.RemoteURLs) > 0 {
			all = append(all, a)
		}
	}
	if key.Owner == "" || key.Repo == "" {
		if len(all) == 1 {
			return all[0]
		}
		return nil
	}
	want := strings.ToLower(key.Owner + "/" + key.Repo)
	for _, a := range all {
		for _, u := range a.RemoteURLs {
			if remoteRepo(u) == want {
				return a
			}
		}
	}
	return nil
}

// remoteRepo returns "owner/repo", lower-cased, from a git remote URL in
// any of the forms GitHub offers: https://github.com/o/r(.git),
// git@github.com:o/r.git, ssh://git@github.com/o/r.git. It returns "" for
// anything else.
func remoteRepo(remote string) string {
	owner, repo := remoteOwnerRepo(remote)
	if owner == "" {
		return ""
	}
	return strings.ToLower(owner + "/" + repo)
}

// remoteOwnerRepo is remoteRepo keeping the names as the URL spells them,
// for use as a pull request key.
func remoteOwnerRepo(remote string) (owner, repo string) {
	s := strings.TrimSpace(remote)
	var path string
	if u, err := url.Parse(s); err == nil && u.Scheme != "" && u.Host != "" {
		path = u.Path
	} else if at := strings.Index(s, "@"); at >= 0 && strings.Contains(s[at:], ":") {
		// scp-like syntax: user@host:owner/repo.git
		_, path, _ = strings.Cut(s[at:], ":")
	} else {
		return "", ""
	}
	path = strings.TrimSuffix(strings.Trim(path, "/"), ".git")
	parts := strings.Split(path, "/")
	if len(parts) < 2 || parts[len(parts)-2] == "" || parts[len(parts)-1] == "" {
		return "", ""
	}
	return parts[len(parts)-2], parts[len(parts)-1]
}
