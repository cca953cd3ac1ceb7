// Package githubapi adapts the GitHub REST API (through go-github v60) to the
// release gatekeeper's domain: a Publisher that sets the gatekeeper's commit
// status, and a Source that recovers pull request facts, reviews and the
// head's commit statuses and check runs that lost or early webhooks did not
// deliver. The conversions of go-github pull requests, reviews and check
// runs are githubevents', so that a webhook and a REST answer about the
// same thing give the same domain value. For the people side of
// a release it adds a TeamSource (team memberships of reviewers, voters and
// the author, for the policy's roles), a MergedSource (the pull requests
// merged into the release's head branch, with their issue links), a
// Responder that answers vote comments with a reaction (and a reply when a
// vote is refused), and Client.RepoID, the numeric repository id ZenHub
// names repositories by.
//
// Each source has its own name in Evidence.Sources ("github",
// "github-teams", "github-merged"), its own rule for when it calls GitHub,
// and its own failure: a token without read:org makes the team memberships
// unavailable without making the pull request facts look unavailable.
//
// go-github types stop here: callers see gatekeeper.PullRequest,
// gatekeeper.Review and gatekeeper.Event only.
//
// # Retries and rate limits
//
// Every call goes through Client, which retries transient failures (5xx,
// network errors, timeouts) with exponential backoff and jitter, and waits
// out rate limits: until X-RateLimit-Reset for the primary limit, for
// Retry-After (or Retry.SecondaryWait, doubled for each further hit) for the
// secondary limit and for a 429. Other 4xx answers are never retried; a 422
// is reported as an error wrapping gatekeeper.ErrInvalid with GitHub's
// message. All waiting goes through the injected Clock and Sleep, so tests
// run in microseconds with the same arithmetic as production.
//
// go-github remembers rate limits inside its *github.Client and refuses later
// calls against the wall clock without contacting GitHub. Client therefore
// keeps that memory itself, on the injected Clock and shared by the
// Publisher and the Source, and builds a fresh *github.Client for every
// attempt (a few allocations, nothing next to an HTTP round trip), so the
// only waits are the ones this package decides and logs.
//
// The Publisher waits for a rate limit (up to Retry.MaxRateLimitWait per
// wait, within Retry.MaxElapsed); the sources, the Responder and RepoID
// never wait for one: they run in a worker, and an unavailable source is
// already treated as "not a pass" by the domain, so they fail fast with an
// error wrapping ErrRateLimited.
package githubapi
