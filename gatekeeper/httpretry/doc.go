// Package httpretry is the one retrying HTTP core of the gatekeeper's
// outside systems: GitHub (githubapi), ZenHub (zenhubapi) and Slack
// (slackapi) used to carry three copies of the same loop.
//
// The loop (Policy.Do) knows nothing about any one service: each attempt is
// a callback that makes exactly one request and returns a Verdict (done, or
// retry after a wait it chose, from a backoff or from the server's own
// Retry-After or rate-limit reset). The loop bounds the attempts and the
// elapsed time, logs each retry once, sleeps through an injectable Sleep so
// that tests advance a fake clock instead of waiting, and stops as soon as
// the caller's context ends. The helpers (Backoff, RetryAfter, ResetWait,
// Transient) read what servers say in the same way for every caller.
//
// The package imports the standard library only.
package httpretry
