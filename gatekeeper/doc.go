// Package gatekeeper is the domain of the release gatekeeper: the evidence
// gathered for a pull request, the policy input built from it, the decision a
// policy returns, and the Service that turns webhook events into commit
// statuses.
//
// The package uses only the standard library. Everything that talks to the
// outside world (GitHub, Jenkins, ZenHub, OPA, bbolt, Redis, HTTP) sits behind
// the small interfaces declared in interfaces.go and lives in a sub-package
// named for what it adapts; only cmd/gatekeeper wires them together.
//
// The invariants the rest of the code relies on:
//
//   - Evidence is pinned to commits. A review, check or build for an older
//     head sha is kept for the record but never counts for the current head.
//   - Missing, pending, stale or errored evidence is never a pass. The
//     Service downgrades any "success" that the evidence cannot support.
//   - A delivery the Store accepted is durable and queued: a crash after the
//     acknowledgement loses nothing, because the queue is the Store.
//   - Of any number of replicas sharing a Store, one at a time evaluates a
//     pull request, under a lease (lease.go); a replica that lost its lease
//     records and posts nothing, so no older decision lands after a newer.
//     Posting on a commit (which pull requests may share) and running the
//     reconcile timer take leases on names too (commitlease.go): one
//     replica at a time posts on a commit, and one reconciles per tick.
package gatekeeper
