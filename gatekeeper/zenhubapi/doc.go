// Package zenhubapi verifies, through ZenHub's REST v1 API, the issues that
// a release pull request and the pull requests merged into it link to: a
// Source whose events record, per linked issue, whether ZenHub knows it
// and in which pipeline it sits.
//
// There is no ZenHub Go SDK; the package is a thin net/http client for the
// one endpoint it needs, GET /p1/repositories/{repo_id}/issues/{number}
// with the X-Authentication-Token header. repo_id is GitHub's numeric
// repository id: the pull request snapshot carries its own repository's,
// and Options.RepoID (githubapi's Client.RepoID, wired by cmd) resolves
// any other repository's.
//
// # Answers, retries and rate limits
//
// 200 means found (the pipeline name is recorded), 404 means not found,
// which is an answer and not an error. 401 is a rejected token: an error
// wrapping gatekeeper.ErrUnauthorized, never retried. ZenHub answers 403
// when its rate limit (100 requests a minute per token) is reached: the
// client waits until X-RateLimit-Reset, measured against the response's
// Date header as ZenHub advises (its clock, not ours), capped by
// Retry.MaxRateLimitWait, and tries again. 5xx answers and network errors
// are retried with exponential backoff and jitter. Every wait goes through
// the injected Sleep and ends with the context, so tests run in
// microseconds and shutdown is never held up. ZenHub types (its JSON)
// stop here: callers see gatekeeper.IssueCheck.
package zenhubapi
