// Package redisstore is the gatekeeper.Store on Redis (go-redis v9), for
// several replicas sharing one server: GATEKEEPER_STORE=redis://host:port/db,
// or rediss:// for TLS, with the password from REDIS_PASSWORD.
//
// Layout (P is the prefix as a hash tag, "{gatekeeper}" by default, so that
// every key falls in one slot; a field is a PullKey.String()):
//
//	P:ev:<pull>      string: the Evidence as JSON, without its log, and
//	                 "log_apart":true (evidence written before the log was
//	                 kept apart has no log_apart and its log inline; it is
//	                 read as it is, and the next write moves the log out)
//	P:log:<pull>     list: the evidence's log, each LogEntry as JSON,
//	                 oldest first; a delivery pushes its entry and trims
//	                 the ones it pushes past gatekeeper.MaxLog, so that
//	                 its write does not grow with the log
//	P:ver            hash: pull → version token ("<Version>:<unique>"); also
//	                 the list of pull requests with evidence
//	P:head:<sha>     set: the pull requests whose head has been sha
//	P:idx:<term>     set: the pull requests whose evidence has had the
//	                 index term (gatekeeper.IndexTerms)
//	P:indexed        string: set once the index holds every evidence written
//	                 before it existed (Open builds it)
//	P:queue          hash: pull → generation
//	P:gen            counter: the generations, never reused
//	P:dec:<pull>     list: DecisionRecords as JSON, newest first, trimmed
//	                 to MaxDecisions
//	P:delivered      sorted set: delivery id, scored by the microsecond it
//	                 was recorded
//	P:commit:<id>    a group commit's receipt, kept ten minutes
//	P:lease:<pull>   string "<token>|<owner>": the replica evaluating the
//	                 pull request, expiring (PX) unless renewed
//	P:fence          counter: the leases' fencing tokens, never reused
//	P:health         string: the time of the last Ping, expiring in a
//	                 minute; written so that a server that answers PING but
//	                 refuses writes is not ready
//
// A 202 keeps its promise through one Lua script (commitScript): the
// delivery id, the evidence and the queue entry are written together or not
// at all, and only if no other writer changed the pull requests since they
// were read (a compare-and-set on the version token). Go code cannot run
// inside Redis, so a Record's apply runs in this process between the read
// and the script; when the script finds the pull request changed by another
// replica, the group is read and applied again (apply may run more than
// once; only the run written counts). Within one process a single goroutine
// writes, in groups, as boltstore does: requests that arrive while one
// group commits share the next, and each pull request is read, decoded,
// encoded and written once per group (its log by the entries the group
// added).
//
// The client does not retry writes by itself: a write whose reply was lost
// may have been made, and must not be made twice (an Update has no delivery
// id to deduplicate it). The store looks for the commit's receipt instead,
// and sends the commit again only when it was not made.
//
// How durable a nil from Record is depends on the server: with
// appendonly yes and appendfsync always, Redis answers a write only after
// it fsynced its append-only file, so a Record that returned nil survives a
// crash of Redis or of its machine. With WithWaitReplicas(n, …) every write
// also waits until n replicas have it (Redis WAIT), and fails with
// ErrReplicas when they do not in time.
package redisstore
