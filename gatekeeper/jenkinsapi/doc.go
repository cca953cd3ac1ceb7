// Package jenkinsapi reads build evidence from Jenkins through gojenkins
// v1.1.0 (github.com/bndr/gojenkins) and converts it to gatekeeper.Build:
// result and revisions of a build, its Pipeline stages (Stage View API)
// mapped onto the seven release stages, its JUnit test counts and its code
// coverage (Coverage plugin, with Cobertura and JaCoCo as fallbacks).
//
// gojenkins ignores HTTP status codes and JSON decode errors, and never
// attaches the caller's context to its requests. The Client therefore hands
// gojenkins, for every call, an *http.Client whose transport carries the
// call's context and refuses any answer that is not usable evidence: a
// non-2xx status or, for /api/json, a body that is not JSON. A 404 is
// reported as ErrMissing, so that a report Jenkins does not have is
// recorded as missing and never read as an empty pass.
//
// How the head sha of a PR-merge build is found: GitHub Branch Source
// merges the pull request head into the target branch locally, so the
// commit Jenkins builds (GIT_COMMIT, BuildData lastBuiltRevision) is a merge
// commit GitHub does not know. The head is taken, in order, from the
// build's SCMRevisionAction (PullRequestSCMRevision.pullHash), from the
// "marked" revision of the git BuildData entry that built the merge, and,
// only for head and branch builds, from the built commit itself. Only the
// BuildData whose remoteUrls name the pull request's repository is used:
// a Pipeline run carries one per checkout, shared libraries included.
//
// A Client is safe for concurrent use.
package jenkinsapi
