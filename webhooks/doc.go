// Package webhooks is the release gatekeeper's HTTP edge: the GitHub webhook
// receiver, the JSON API, the human details page, health checks and the
// Prometheus metrics, served by one gin engine.
//
// It depends on the domain only. The domain Service is reached through the
// small Service interface declared here, which *gatekeeper.Service
// satisfies, and GitHub payloads are turned into domain events by an
// injected GitHubParser (cmd wires githubevents.ParseDelivery), so that no
// adapter package is imported.
//
// The receiver follows one path for every delivery: bound the body, check
// the HMAC-SHA256 signature over the exact bytes received, parse, hand the
// event to Service.Accept (which stores and queues it durably) and answer
// 202. It never calls GitHub or evaluates policy in the request, and it
// never answers 2xx for a delivery it did not store, because GitHub does
// not redeliver on its own. Every error is turned into an HTTP status by
// one function, httpStatus.
//
// The Slack receiver (slack.go, POST /webhooks/slack) takes the GO/NOGO
// buttons of the Slack messages: it checks Slack's v0 signature and the
// request's age (5 minutes) before reading anything, maps the Slack user to
// a GitHub login through the policy data (SlackOptions.Voter), and hands a
// SlackVote to Service.Accept; the worker then echoes the vote as a comment
// on the pull request, which is what counts (see gatekeeper.SlackVote). Only
// the NOGO reason form is opened inside the request, since Slack honours a
// trigger_id for 3 seconds.
//
// Pages and API show private repositories' content, so they sit behind
// sign-in (auth.go): with GitHub's OAuth web flow or a GitHub token sent as
// Bearer, a repository is shown only to whom GitHub, asked with their own
// token, says can read it. Without OAuth settings they are served only on
// a loopback listen address; GATEKEEPER_UI_AUTH=none opens them for a
// deployment behind an authenticating proxy. Webhooks, /healthz, /readyz
// and /metrics need no sign-in and carry no pull request content.
package webhooks
