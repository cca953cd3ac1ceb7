package gatekeeper

import (
	"fmt"
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
	Key       PullKey   `json:"key"`
	RepoID    int64     `json:"repo_id,omitempty"`
	Title     string    `json:"title"`
	Body      string    `json:"body"`
	Author    string    `json:"author"`
	State     string    `json:"state"` // "open" or "closed"
	Draft     bool      `json:"draft"`
	Merged    bool      `json:"merged"`
	HeadRef   string    `json:"head_ref"`
	HeadSHA   string    `json:"head_sha"`
	BaseRef   string    `json:"base_ref"`
	BaseSHA   string    `json:"base_sha"`
	Labels    []string  `json:"labels"`
	HTMLURL   string    `json:"html_url,omitempty"`
	UpdatedAt time.Time `json:"updated_at"`
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

// String returns the pairs in the form ParseBranchPairs reads.
func (p BranchPairs) String() string {
	parts := make([]string, len(p))
	for i, b := range p {
		parts[i] = b.Head + ":" + b.Base
	}
	return strings.Join(parts, ",")
}
