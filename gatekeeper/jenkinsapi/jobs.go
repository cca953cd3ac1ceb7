package jenkinsapi

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// SplitJobURL returns the decoded job names of a Jenkins job or build URL,
// outermost folder first, and the build number when the URL names a build
// (0 otherwise). It accepts relative paths as the Notification plugin sends
// them ("job/acme/job/shop/job/PR-12/") and absolute URLs with a context
// path ("https://ci.example.com/jenkins/job/acme/…/PR-12/7/"). Whatever
// precedes the job/<name> pairs is taken for the context path; empty
// segments (the "//" gojenkins produces) are ignored. ok is false when the
// URL does not end in a job, optionally followed by a build number.
func SplitJobURL(jobURL string) (names []string, build int64, ok bool) {
	u, err := url.Parse(strings.TrimSpace(jobURL))
	if err != nil {
		return nil, 0, false
	}
	// Split the escaped path so that an encoded slash (%2F, as in branch
	// jobs for feature/x) stays inside its name.
	var segs []string
	for _, s := range strings.Split(u.EscapedPath(), "/") {
		if s != "" {
			segs = append(segs, s)
		}
	}
	n := len(segs)
	if n >= 3 && segs[n-2] != "job" && isBuildNumber(segs[n-1]) {
		build, _ = strconv.ParseInt(segs[n-1], 10, 64)
		n--
	}
	// Walk job/<name> pairs from the right: a context path that happens
	// to contain "job" cannot then be taken for a job.
	for i := n - 1; i >= 1 && segs[i-1] == "job"; i -= 2 {
		name, err := url.PathUnescape(segs[i])
		if err != nil || name == "" {
			return nil, 0, false
		}
		names = append(names, name)
	}
	if len(names) == 0 {
		return nil, 0, false
	}
	for l, r := 0, len(names)-1; l < r; l, r = l+1, r-1 {
		names[l], names[r] = names[r], names[l]
	}
	return names, build, true
}

// isBuildNumber reports whether s is a positive decimal without a leading
// zero, the only way Jenkins spells a build number.
func isBuildNumber(s string) bool {
	if s == "" || len(s) > 18 || s[0] == '0' {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// ParseJobPath recognises a multibranch pull request job from its URL
// (never from the bare job name, which is ambiguous across repositories):
// job/<folder>/…/job/PR-<n>/, PR-<n>-merge or PR-<n>-head, relative or
// absolute, with URL-encoded names and an optional trailing build number.
// folders are the decoded names of the enclosing folders, outermost first
// (at least the multibranch project); strategy is "merge", "head" or "".
func ParseJobPath(jobURL string) (folders []string, prNumber int, strategy string, ok bool) {
	names, _, ok := SplitJobURL(jobURL)
	if !ok || len(names) < 2 {
		return nil, 0, "", false
	}
	prNumber, strategy, ok = parsePRJobName(names[len(names)-1])
	if !ok {
		return nil, 0, "", false
	}
	return names[:len(names)-1], prNumber, strategy, true
}

// parsePRJobName parses the GitHub Branch Source job names PR-<n>,
// PR-<n>-merge and PR-<n>-head.
func parsePRJobName(name string) (int, string, bool) {
	rest, ok := strings.CutPrefix(name, "PR-")
	if !ok {
		return 0, "", false
	}
	num, strategy, _ := strings.Cut(rest, "-")
	switch strategy {
	case "", "merge", "head":
	default:
		return 0, "", false
	}
	if !isBuildNumber(num) || len(num) > 9 {
		return 0, "", false
	}
	n, err := strconv.Atoi(num)
	if err != nil {
		return 0, "", false
	}
	return n, strategy, true
}

// JobRepos maps multibranch project folders to GitHub repositories: the
// key is the folder path (decoded folder names joined by "/", e.g.
// "ci/shop-service"), the value "owner/repo". It is the parsed form of
// GATEKEEPER_JENKINS_JOBS.
//
// Either way a repository is built in exactly one folder (Folders), and
// only that folder places a job (Repo): the folder the lost-notification
// lookup and the baseline read. A repository the mapping lists is placed
// only by its mapped folder; one it does not list (all of them when it is
// empty) by the organisation-folder convention, exactly <owner>/<repo>
// from the Jenkins root. A copy of the multibranch project in any other
// folder (a personal or sandbox folder a Jenkins user may create jobs in)
// thus builds no repository.
type JobRepos map[string]string

// ParseJobRepos parses "folder/path=owner/repo,other/path=owner/repo2". An
// empty string gives an empty map: the organisation-folder convention. A
// folder or a repository (GitHub names are case-insensitive) listed twice
// is an error.
func ParseJobRepos(s string) (JobRepos, error) {
	m := JobRepos{}
	seen := map[string]string{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		folder, repo, ok := strings.Cut(part, "=")
		folder, repo = strings.Trim(strings.TrimSpace(folder), "/"), strings.TrimSpace(repo)
		owner, name, ok2 := strings.Cut(repo, "/")
		if !ok || !ok2 || folder == "" || owner == "" || name == "" || strings.Contains(name, "/") {
			return nil, fmt.Errorf("parsing jenkins jobs: %q is not folder/path=owner/repo", part)
		}
		if _, dup := m[folder]; dup {
			return nil, fmt.Errorf("parsing jenkins jobs: folder %q mapped twice", folder)
		}
		if other, dup := seen[strings.ToLower(repo)]; dup {
			return nil, fmt.Errorf("parsing jenkins jobs: repository %s mapped to folders %q and %q, want one", repo, other, folder)
		}
		m[folder] = repo
		seen[strings.ToLower(repo)] = folder
	}
	return m, nil
}

// Repo returns the repository built by the multibranch project at folders:
// the repository the mapping lists for that folder path, else by the
// organisation-folder convention, exactly two folders from the Jenkins
// root, owner and repository (…/job/<owner>/job/<repo>/), unless the
// mapping lists that repository (then only its mapped folder places it).
// Any other folder path, a deeper one ending in the same two names
// included, places nothing.
func (m JobRepos) Repo(folders []string) (owner, repo string, ok bool) {
	if r, found := m[strings.Join(folders, "/")]; found {
		owner, repo, _ = strings.Cut(r, "/")
		return owner, repo, true
	}
	if len(folders) != 2 || folders[0] == "" || folders[1] == "" || m.lists(folders[0], folders[1]) {
		return "", "", false
	}
	return folders[0], folders[1], true
}

// lists reports whether the mapping lists owner/repo (GitHub names are
// case-insensitive).
func (m JobRepos) lists(owner, repo string) bool {
	_, ok := m.folder(owner, repo)
	return ok
}

// folder returns the mapped folder path of owner/repo, if any.
func (m JobRepos) folder(owner, repo string) (string, bool) {
	want := owner + "/" + repo
	for folder, r := range m {
		if strings.EqualFold(r, want) {
			return folder, true
		}
	}
	return "", false
}

// Folders is the inverse of Repo: the folders of the multibranch project
// that builds owner/repo, its mapped folder when the mapping lists it,
// else the convention's owner/repo. When a mapped folder path is itself
// another repository's owner/repo, that repository has no folder: its
// convention folders are returned, where Repo places the mapped one.
func (m JobRepos) Folders(owner, repo string) []string {
	if folder, ok := m.folder(owner, repo); ok {
		return strings.Split(folder, "/")
	}
	return []string{owner, repo}
}

// PullKey returns the pull request a PR job URL builds and the job's merge
// strategy; ok is false for anything that is not a pull request job.
func (m JobRepos) PullKey(jobURL string) (key gatekeeper.PullKey, strategy string, ok bool) {
	folders, n, strategy, ok := ParseJobPath(jobURL)
	if !ok {
		return gatekeeper.PullKey{}, "", false
	}
	owner, repo, ok := m.Repo(folders)
	if !ok {
		return gatekeeper.PullKey{}, "", false
	}
	return gatekeeper.PullKey{Owner: owner, Repo: repo, Number: n}, strategy, true
}

// maxUnplacedWarnings bounds the job folders an unplacedWarnings set
// remembers; past it, one last warning says that further folders go
// unreported.
const maxUnplacedWarnings = 256

// unplacedWarnings warns once per job folder path that a pull request job
// was seen in folders Repo places in no repository: its builds never count
// and the pull request waits, the symptom of an organisation folder nested
// below the Jenkins root or a multibranch project GATEKEEPER_JENKINS_JOBS
// does not list. It is process-wide and bounded (maxUnplacedWarnings).
type unplacedWarnings struct {
	source string // where the job was seen, logged as "seen_in"
	mu     sync.Mutex
	seen   map[string]struct{}
	full   bool
}

// The folders notifications and reports name (anyone holding the webhook
// token can send them) and those Jenkins' own reads show are remembered
// apart, so that made-up folders cannot use up the set that tells about
// the real ones.
var (
	unplacedNotified = &unplacedWarnings{source: "notification"}
	unplacedRead     = &unplacedWarnings{source: "jenkins read"}
)

// warn logs, the first time folders are seen, that the job at jobPath is
// placed in no repository. A nil logger, or one that drops warnings, logs
// nothing and remembers nothing.
func (w *unplacedWarnings) warn(log *slog.Logger, folders []string, jobPath string) {
	if log == nil || !log.Enabled(context.Background(), slog.LevelWarn) {
		return
	}
	folder := strings.Join(folders, "/")
	w.mu.Lock()
	_, seen := w.seen[folder]
	full := w.full
	switch {
	case seen || full:
	case len(w.seen) >= maxUnplacedWarnings:
		w.full = true
	default:
		if w.seen == nil {
			w.seen = map[string]struct{}{}
		}
		w.seen[folder] = struct{}{}
	}
	nowFull := !seen && !full && w.full
	w.mu.Unlock()
	switch {
	case nowFull:
		log.Warn("more Jenkins job folders place no repository; no further ones are logged",
			"seen_in", w.source, "limit", maxUnplacedWarnings)
	case !seen && !full:
		log.Warn("Jenkins job folder places no repository: the builds of its pull request jobs never count, "+
			"and a pull request they build waits for a build for ever; if it builds one, list it in "+
			"GATEKEEPER_JENKINS_JOBS as <folder path>=<owner>/<repo> (an organisation folder counts only "+
			"directly under the Jenkins root)",
			"folder", folder, "job", jobPath, "seen_in", w.source)
	}
}

// warnUnplacedRead warns (unplacedRead) when b, as Jenkins' read shows it,
// is a pull request job of folders that place no repository.
func (m JobRepos) warnUnplacedRead(log *slog.Logger, b gatekeeper.Build) {
	if !b.Verified || b.Gone || b.Key.Valid() {
		return
	}
	folders, _, _, ok := ParseJobPath(b.JobPath)
	if !ok {
		return
	}
	if _, _, placed := m.Repo(folders); !placed {
		unplacedRead.warn(log, folders, b.JobPath)
	}
}
