// Package githubapi adapts the GitHub REST API (through go-github v60) to the
// release gatekeeper's domain: a Publisher that sets the gatekeeper's commit
// status, a Source that recovers pull request facts and reviews that lost
// webhooks did not deliver, and the conversions from go-github types to
// gatekeeper types that the webhooks package shares.
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
// wait, within Retry.MaxElapsed); the Source never waits for one: it runs in
// a worker, and an unavailable source is already treated as "not a pass" by
// the domain, so it fails fast with an error wrapping ErrRateLimited.
package githubapi
