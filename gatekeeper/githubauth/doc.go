// Package githubauth signs people in with GitHub (the OAuth web flow) and
// asks GitHub, with each person's own token, whether they can read a
// repository. The details page and the API show a repository only to
// those GitHub says can read it; the answer is cached briefly so that a
// page load does not cost a GitHub call.
//
// It works the same with an OAuth App's or a GitHub App's client id and
// secret; a GitHub App's user tokens have no scopes and see only what the
// App is installed on and the person can read.
package githubauth
