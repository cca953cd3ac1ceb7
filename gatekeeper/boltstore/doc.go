// Package boltstore is the embedded gatekeeper.Store, kept in one bbolt file.
//
// Layout (every key is a PullKey.String() unless said otherwise):
//
//	evidence    key → Evidence as JSON, without its log, and "log_apart":true
//	            (evidence written before the log was kept apart has no
//	            log_apart and its log inline; it is read as it is, and the
//	            next write moves the log out)
//	log         key + "\x00" + sequence (uint64, big-endian) → LogEntry as
//	            JSON; the evidence's log, oldest first: a delivery puts its
//	            entry and deletes the one it pushes past gatekeeper.MaxLog,
//	            so that its write does not grow with the log
//	versions    key → the evidence's Version (uint64, big-endian)
//	heads       sha + "\x00" + key → empty; every head sha a pull request has had
//	index       term + "\x00" + key → empty; every gatekeeper.IndexTerms its
//	            evidence has had (its repository, its repository and base)
//	queue       key → generation (uint64, big-endian); the bucket's sequence is
//	            the generation counter, so generations are never reused
//	decisions   key → nested bucket: sequence (uint64, big-endian) → DecisionRecord
//	            as JSON; the newest MaxDecisions are kept
//	deliveries  delivery id → time recorded (8 bytes)
//	delivered   time recorded (8 bytes) + delivery id → empty; the time order
//	            that ForgetDeliveries walks
//	health      "pinged" → the time of the last Ping (RFC 3339), written so
//	            that a file that reads but cannot be written is not ready
//
// Record is group-committed: webhook requests that arrive while one
// transaction commits share the next transaction and its fsync, and in it each
// pull request's evidence is decoded and encoded once for the whole group,
// and its log written by the entries the group added.
// That is what lets the acknowledgement path keep up with a bare handler (see
// Record and the benchmarks). bbolt's own DB.Batch is not used: it cannot
// encode once per group, because it gives no hook between the group's last
// function and the commit, and it holds every group for a fixed delay. A
// group whose transaction fails is run again one Record at a time, so apply
// functions may run more than once, each time on evidence read afresh.
//
// An evaluation's Settle joins the same group commit: the group runs its
// Records first, then each Settle (evidence change, decision record,
// dequeue at its generation) on the evidence as they left it, so that the
// evaluations of many pull requests share one fsync as the webhooks do. A
// Settle that cannot be made alone (no evidence, a panicking Apply) is
// refused before it writes anything and fails no one else; a group whose
// transaction fails runs every member again alone, and the evidence cache
// forgets what the failed transaction cached.
//
// Only one Store can hold a file: Open fails with ErrLocked after the lock
// timeout rather than wait for ever.
package boltstore
