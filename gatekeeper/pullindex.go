package gatekeeper

import (
	"strconv"
	"strings"
)

// The pull request index lets the webhook path find the pull requests of one
// repository, or of one repository into one base branch, without listing
// every pull request the store tracks. A store keeps, for every index term,
// the set of pull requests indexed under it, and writes a pull request's
// terms (IndexTerms of its evidence) in the same atomic step as the
// evidence. Like the head shas of PullsForSHA, terms are only ever added:
// a pull request whose base was edited stays under its old base too, so a
// lookup returns a superset, and the caller checks the evidence it loads
// (it must anyway: the pull request may be closed).
//
// A term never contains "\x00" (git refs, owners and repository names
// cannot), so a store may use term + "\x00" + key as a sortable key.

// IndexTerms lists the terms ev's pull request is indexed under: its
// repository by name (as its key names it), and, once its snapshot names
// a base, that base in its repository by name and, when known, by id (so
// that a push to a renamed repository, which names it anew, still finds
// it by id, as PullRequest.SameRepo does).
func IndexTerms(ev *Evidence) []string {
	terms := []string{RepoTerm(ev.Key.Owner, ev.Key.Repo)}
	if pr := ev.PR; pr != nil && pr.BaseRef != "" {
		terms = append(terms, BaseTerms(pr.RepoID, ev.Key.Owner, ev.Key.Repo, pr.BaseRef)...)
	}
	return terms
}

// RepoTerm is the term of every pull request of repository owner/name,
// compared without case as GitHub compares them.
func RepoTerm(owner, name string) string {
	return "repo " + strings.ToLower(owner+"/"+name)
}

// BaseTerms are the terms of a pull request into base of the repository
// given by id (0 when unknown) and owner/name: one by name, one by id when
// known. A lookup of a pushed repository unions the pull requests of all
// its BaseTerms: a pull request that matches it by PullRequest.SameRepo is
// under one of them.
func BaseTerms(id int64, owner, name, base string) []string {
	terms := []string{"base " + strings.ToLower(owner+"/"+name) + " " + base}
	if id != 0 {
		terms = append(terms, "base #"+strconv.FormatInt(id, 10)+" "+base)
	}
	return terms
}
