package gatekeeper

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// PullKey names one pull request.
type PullKey struct {
	Owner  string `json:"owner"`
	Repo   string `json:"repo"`
	Number int    `json:"number"`
}

// String returns the key as "owner/repo#number", the form used in logs and
// as the storage key.
func (k PullKey) String() string {
	return k.Owner + "/" + k.Repo + "#" + strconv.Itoa(k.Number)
}

// Valid reports whether every part of the key is set.
func (k PullKey) Valid() bool {
	return k.Owner != "" && k.Repo != "" && k.Number > 0 &&
		!strings.ContainsAny(k.Owner+k.Repo, "/#")
}

// ParsePullKey is the inverse of PullKey.String.
func ParsePullKey(s string) (PullKey, error) {
	slash := strings.Index(s, "/")
	hash := strings.LastIndex(s, "#")
	if slash <= 0 || hash <= slash+1 {
		return PullKey{}, fmt.Errorf("parsing pull request key %q: want owner/repo#number", s)
	}
	n, err := strconv.Atoi(s[hash+1:])
	if err != nil {
		return PullKey{}, fmt.Errorf("parsing pull request key %q: %w", s, err)
	}
	k := PullKey{Owner: s[:slash], Repo: s[slash+1 : hash], Number: n}
	if !k.Valid() {
		return PullKey{}, fmt.Errorf("parsing pull request key %q: invalid", s)
	}
	return k, nil
}

// PullRequest is a snapshot of a pull request as GitHub last described it.
type PullRequest struct {
	Key    PullKey `json:"key"`
	RepoID int64   `json:"repo_id,omitempty"`
	Title  string  `json:"title"`
	Body   string  `json:"body"`
	Author string  `json:"author"`
	// AuthorAssociation is GitHub's word for the author's relation to the
	// repository (OWNER, MEMBER, COLLABORATOR, CONTRIBUTOR, NONE, …);
	// "" when unknown. See WritesTo.
	AuthorAssociation string   `json:"author_association,omitempty"`
	State             string   `json:"state"` // "open" or "closed"
	Draft             bool     `json:"draft"`
	Merged            bool     `json:"merged"`
	HeadRef           string   `json:"head_ref"`
	HeadSHA           string   `json:"head_sha"`
	BaseRef           string   `json:"base_ref"`
	BaseSHA           string   `json:"base_sha"`
	Labels            []string `json:"labels"`
	// LabeledAt is when GitHub says each label was last added (the
	// pull_request "labeled" webhook's updated_at), for the labels it
	// still has; a label whose adding was not seen has no entry.
	LabeledAt map[string]time.Time `json:"labeled_at,omitempty"`
	HTMLURL   string               `json:"html_url,omitempty"`
	UpdatedAt time.Time            `json:"updated_at"`

	// HeadRepoID is the id of the repository the head branch lives in:
	// RepoID for a branch of the repository itself, another for a fork,
	// 0 when GitHub names none (a deleted fork).
	HeadRepoID int64 `json:"head_repo_id,omitempty"`
}

// WritesTo reports whether the author may write to the repository as far
// as GitHub says (OWNER, MEMBER or COLLABORATOR), or GitHub did not say: a
// pull request of unknown authorship is taken as one that counts (fail
// closed where it blocks).
func (pr *PullRequest) WritesTo() bool {
	switch strings.ToUpper(pr.AuthorAssociation) {
	case "", "OWNER", "MEMBER", "COLLABORATOR":
		return true
	}
	return false
}

// FromFork reports whether the head branch is not the repository's own: a
// fork's, or one GitHub no longer names (a deleted fork). A snapshot that
// names neither repository (both ids 0) is taken as the repository's own.
func (pr *PullRequest) FromFork() bool {
	return pr.HeadRepoID != pr.RepoID
}

// SameRepo reports whether the repository given by id and owner/name is the
// pull request's: by id when both sides know it (ids survive renames), else
// by name, case-insensitively as GitHub compares them.
func (pr *PullRequest) SameRepo(id int64, owner, name string) bool {
	if id != 0 && pr.RepoID != 0 {
		return id == pr.RepoID
	}
	return owner != "" && name != "" && strings.EqualFold(owner, pr.Key.Owner) && strings.EqualFold(name, pr.Key.Repo)
}

// BranchPair is a head:base pair of branches whose pull requests are gated.
type BranchPair struct {
	Head string `json:"head"`
	Base string `json:"base"`
}

// BranchPairs is the set of gated head:base pairs.
type BranchPairs []BranchPair

// ParseBranchPairs parses "staging:master,hotfix:master". Spaces around
// a name are dropped; each name must be one git would take as a branch.
func ParseBranchPairs(s string) (BranchPairs, error) {
	var out BranchPairs
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		head, base, ok := strings.Cut(part, ":")
		head, base = strings.TrimSpace(head), strings.TrimSpace(base)
		if !ok || head == "" || base == "" {
			return nil, fmt.Errorf("parsing gated branches: %q is not head:base", part)
		}
		for _, name := range []string{head, base} {
			if err := checkBranchName(name); err != nil {
				return nil, fmt.Errorf("parsing gated branches: in %q, %q is not a git branch name: %v", part, name, err)
			}
		}
		out = append(out, BranchPair{Head: head, Base: base})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("parsing gated branches: no head:base pair in %q", s)
	}
	return out, nil
}

// Gated reports whether a pull request from head into base is gated.
func (p BranchPairs) Gated(head, base string) bool {
	for _, b := range p {
		if b.Head == head && b.Base == base {
			return true
		}
	}
	return false
}

// GatedBase reports whether base is the base of a gated pair. Every pull
// request into a gated base is gated: one that is not a release (another
// head branch, or a fork) fails, so that a hand-set status cannot pass it.
func (p BranchPairs) GatedBase(base string) bool {
	for _, b := range p {
		if b.Base == base {
			return true
		}
	}
	return false
}

// Release reports whether pr is a release pull request: on a gated
// head:base pair, with its head branch in the repository itself. A pull
// request from a fork is never a release, whatever its branch names: anyone
// can fork and name a branch staging.
func (p BranchPairs) Release(pr *PullRequest) bool {
	return pr != nil && !pr.FromFork() && p.Gated(pr.HeadRef, pr.BaseRef)
}

// Heads lists the head branches that may merge into base, in the order of
// the pairs.
func (p BranchPairs) Heads(base string) []string {
	var out []string
	for _, b := range p {
		if b.Base == base && !slices.Contains(out, b.Head) {
			out = append(out, b.Head)
		}
	}
	return out
}

// NotReleaseReason says why pr, a pull request into a gated base, is not a
// release: "only staging may merge into master", naming a fork.
func (p BranchPairs) NotReleaseReason(pr *PullRequest) string {
	heads := p.Heads(pr.BaseRef)
	who := strings.Join(heads, " or ")
	if len(heads) == 0 {
		who = "a gated branch"
	}
	msg := "only " + who + " may merge into " + pr.BaseRef
	if pr.FromFork() {
		msg += ", not a fork's " + pr.HeadRef
	}
	return msg
}

// String returns the pairs in the form ParseBranchPairs reads.
func (p BranchPairs) String() string {
	parts := make([]string, len(p))
	for i, b := range p {
		parts[i] = b.Head + ":" + b.Base
	}
	return strings.Join(parts, ",")
}

// DistinctKeys checks the keys and drops repeats, keeping the first
// order, so that a Store's Record applies its change once per pull
// request. An invalid key is ErrInvalid.
func DistinctKeys(keys []PullKey) ([]PullKey, error) {
	out := make([]PullKey, 0, len(keys))
	seen := make(map[PullKey]bool, len(keys))
	for _, k := range keys {
		if !k.Valid() {
			return nil, fmt.Errorf("pull request key %q: %w", k, ErrInvalid)
		}
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out, nil
}
