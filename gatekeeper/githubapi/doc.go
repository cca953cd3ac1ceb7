// Package githubapi adapts the GitHub REST API (through go-github v60) to the
// release gatekeeper's domain: a Publisher that sets the gatekeeper's commit
// status, and a Source that recovers pull request facts, reviews,
// conversation comments (votes) and the head's commit statuses and check
// runs that lost or early webhooks did not deliver. The conversions of
// go-github pull requests, reviews, comments and check runs are
// githubevents', so that a webhook and a REST answer about the
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
// The retry loop itself is httpretry's, shared with ZenHub and Slack; this
// package supplies the classification of GitHub's answers.
//
// # Budget
//
// Under the authentication sits one budget transport (budget.go), which
// wraps whatever base transport the http.Client carries, so that a GitHub
// App's installation transport can sit above it. It makes every GET
// conditional: an answer with an ETag or Last-Modified is kept, keyed by
// the credential (a GitHub App's installation, which outlives its hourly
// tokens; else a hash of the token), the Accept header and the URL, in a
// bounded LRU
// (Budget.CacheEntries, Budget.CacheBytes; bodies kept compressed), and the next GET of the URL
// sends If-None-Match / If-Modified-Since. GitHub answers 304, which does
// not count against the rate limit, when nothing changed; go-github then
// sees the kept 200 and Observe reports "304". It paces writes (POST,
// PATCH, PUT, DELETE) per credential with a token bucket under GitHub's
// secondary limit (15 at once, then one a second by default), and reports
// X-RateLimit-Remaining to Options.Remaining. The Publisher refuses a status
// past Budget.MaxStatusesPerContext on one commit and context (GitHub keeps
// 1,000). TeamSource shares its answers per team and user across pull
// requests. The cache and the counts live in the process: a restart or
// another replica starts cold and pays one full read per URL.
//
// # Token permissions
//
// The token (GITHUB_TOKEN) needs, per call, on a fine-grained token or a
// GitHub App (a classic token needs repo, or public_repo for public
// repositories only, and read:org):
//
//   - commit statuses, set by the Publisher
//     (POST /repos/{o}/{r}/statuses/{sha}): Commit statuses: write.
//   - pull requests and reviews, read by Source and MergedSource
//     (GET …/pulls/{n}, GET …/pulls/{n}/reviews, GET …/pulls): Pull
//     requests: read.
//   - issue comments, read by Source and the Responder
//     (GET …/issues/{n}/comments, GET …/issues/comments/{id}): Issues: read
//     or Pull requests: read; reactions and replies, written by the
//     Responder (POST …/issues/comments/{id}/reactions,
//     POST …/issues/{n}/comments): Issues: write or Pull requests: write.
//   - compare, read by MergedSource (GET …/compare/{base_tip}...{head},
//     two commit shas) after the base branch (GET …/branches/{base}):
//     Contents: read.
//   - check runs, read by Source (GET …/commits/{sha}/check-runs): Checks:
//     read; the head's combined status (GET …/commits/{sha}/status) and,
//     for the creator of the gatekeeper's own context, the list of its
//     statuses (GET …/commits/{sha}/statuses) are covered by Commit
//     statuses.
//   - team members, read by TeamSource
//     (GET /orgs/{org}/teams/{team}/members): Members: read
//     (organization permission; read:org on a classic token).
//   - the repository, read by RepoID (GET /repos/{o}/{r}): Metadata: read,
//     which every fine-grained token has.
//
// A missing permission shows as a 403 or a 404 on the calls that need it
// only: the source that makes them is unavailable (the gate waits) while
// the others are not, and a vote goes unanswered. Team members are the
// exception: GitHub answers 404 for a team not visible to the token, which
// reads as an empty team, so without Members: read nobody holds a role and
// the roles wait.
//
// # GitHub App
//
// With Options.App instead of a token, the Client acts as the GitHub App's
// installations (app.go). A JWT signed with the App's key (RS256, issued
// by the App id, two minutes long) reads GET /app (the bot login,
// "<slug>[bot]", that Publisher.Login names before the first post) and
// the installation of each repository (GET /repos/{o}/{r}/installation)
// or organisation (GET /orgs/{org}/installation, for team memberships),
// cached for an hour (a missing installation for a minute). Every other
// call goes with its installation's token ("Authorization: token …"),
// created by github.com/bradleyfalzon/ghinstallation/v2 and created again
// a minute before it expires, so that a call never carries an expired
// token; each installation has its own token, refreshed under its own
// lock. A call about something no installation holds fails with
// ErrNotInstalled, and GitHub refusing the App's JWT or a token's creation
// with ErrAppRefused; neither is retried. The App needs the permissions
// listed above, and Members: read where its teams are.
//
// GitHub counts each installation's calls apart, so the rate-limit memory
// of an App is kept per installation: the transport tells Client.do which
// installation an attempt went as, and holds back (limitHeld) a request to
// an installation whose limit is known to hold, without a word to GitHub,
// while the other installations' calls go on.
//
// The Publisher waits for a rate limit (up to Retry.MaxRateLimitWait per
// wait, within Retry.MaxElapsed); the sources, the Responder and RepoID
// never wait for one: they run in a worker, and an unavailable source is
// already treated as "not a pass" by the domain, so they fail fast with an
// error wrapping ErrRateLimited.
package githubapi
