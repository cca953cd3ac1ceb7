// Package slackapi tells Slack #production, through an incoming webhook,
// when a release pull request's gate turns ready, blocked or errored, or
// stops being ready: a gatekeeper.Notifier.
//
// There is no Slack SDK here; an incoming webhook is one POST of a JSON
// message, {"text": …, "blocks": […]}. The top-level text is the
// fallback that mobile notifications show alone, so it says everything
// essential on its own; the blocks (one mrkdwn section with a "Details"
// button, the shape of Slack's own sample) repeat it with the title linked
// to the details page, the state, the head commit and the first reasons.
//
// # Untrusted text
//
// Everything that comes from GitHub (a pull request title is written by
// whoever opened it, a reason may quote a comment) is escaped for Slack
// mrkdwn: &, < and > become &amp;, &lt; and &gt;, so that a title cannot
// open a link, mention <!channel> or break the message. Control characters
// become spaces, and every field is bounded so the section stays within
// Slack's 3000-character limit.
//
// # Answers, retries and pace
//
// 200 (body "ok") is done. 429 waits Retry-After (capped) and tries again;
// 5xx answers and network errors are retried with doubling backoff; at most
// three attempts in all, and every wait ends with the context. 400
// invalid_payload, 403 action_prohibited, 404 channel_not_found, 410
// channel_is_archived and any other 4xx are final: the error wraps
// ErrRejected and names Slack's plain-text reason. Slack accepts about one
// message a second, so posts are serialized and spaced at least
// MinInterval apart. All waits go through the injected Sleep and Clock, so
// tests never wait.
//
// # Chatops
//
// With Options.Buttons every message carries GO and NOGO buttons (an
// actions block whose action_id and value, the pull request key, the
// interaction endpoint reads back). PostSummary posts the daily Go/NoGo
// summary of the open release pull requests, through the same webhook, pace
// and retries; RunSummaries posts it at the time the policy data says, once
// a day across replicas (it claims the day in the store first). An
// Interactor opens the NOGO reason modal (views.open, with SLACK_BOT_TOKEN)
// and answers a press ephemerally on its response_url, which must be on
// hooks.slack.com: a payload must not make the gatekeeper post anywhere.
//
// The webhook URL carries its own credential: it is never logged nor put in
// an error, only its host is.
package slackapi
