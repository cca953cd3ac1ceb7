// Package githubevents turns GitHub webhook deliveries into domain events.
// It is the only place where go-github's webhook payload types are seen:
// Parse decodes a payload with github.ParseWebHook and converts what the
// release gatekeeper uses (pull requests, reviews, conversation comments,
// commit statuses and check runs) into a gatekeeper.Event; everything else
// is reported as ErrIgnored.
//
// Parse never authenticates: the webhook receiver checks the signature over
// the raw body before it calls Parse.
package githubevents
