package gatekeeper

import (
	"context"
	"time"
)

// Store keeps evidence, the work queue, decision records, the policy
// revisions they were made under and the delivery ids already seen: the
// composition of the roles below, each of which a consumer that needs only
// it takes instead. Every method is safe for concurrent use.
// Implementations: boltstore (the embedded default) and redisstore (several
// replicas on one Redis); both pass storetest.
type Store interface {
	EvidenceStore
	WorkQueue
	DecisionLog
	PolicyArchive
	DeliveryLog
	// Ping checks that the store is reachable and takes a write.
	Ping(ctx context.Context) error
	// Close releases the store.
	Close() error
}

// EvidenceStore keeps what is known of each pull request, and the indexes
// that find pull requests by head sha, repository and base.
type EvidenceStore interface {
	// Record atomically marks delivery as seen, applies apply to the
	// evidence of each key (creating it when absent), and queues the keys
	// (WorkQueue). It returns ErrDuplicate, changing nothing, when the
	// delivery id was seen before. An empty delivery id is never
	// deduplicated. When Record returns nil the change is durable. apply
	// may run more than once (a store retries on evidence read afresh
	// when a concurrent write got there first); only the run that is
	// written counts, so apply must depend on nothing but the evidence it
	// is given.
	Record(ctx context.Context, delivery string, keys []PullKey, apply func(*Evidence)) error
	// Update applies fn to the evidence of key, which must exist, and
	// returns the evidence as written. It does not queue the key. Like
	// Record's apply, fn may run more than once.
	Update(ctx context.Context, key PullKey, fn func(*Evidence)) (*Evidence, error)
	// Evidence returns the evidence of key, or ErrNotFound.
	Evidence(ctx context.Context, key PullKey) (*Evidence, error)
	// Pulls lists every pull request the store has evidence for.
	Pulls(ctx context.Context) ([]PullKey, error)
	// PullsForSHA lists the pull requests whose head has been sha.
	PullsForSHA(ctx context.Context, sha string) ([]PullKey, error)
	// PullsIndexed lists, in key order and once each, the pull requests
	// indexed under any of terms (IndexTerms of their evidence, written
	// with it; see pullindex.go): a superset the caller checks.
	PullsIndexed(ctx context.Context, terms ...string) ([]PullKey, error)
}

// WorkQueue is the durable queue of pull requests to evaluate: a set of
// "dirty" pull requests, each with a generation that grows every time new
// evidence arrives. A worker reads the generation, evaluates, and calls
// Done with it: when more evidence arrived meanwhile the generation moved
// on, the pull request stays queued and is evaluated again. That is how a
// burst of events coalesces into one evaluation of the latest state, and
// how a crash before Done loses nothing.
type WorkQueue interface {
	// Enqueue queues key for evaluation (raising its generation).
	Enqueue(ctx context.Context, key PullKey) error
	// Queued returns every queued pull request with its generation.
	Queued(ctx context.Context) ([]QueueItem, error)
	// Generation returns key's queue generation, and false when not queued.
	Generation(ctx context.Context, key PullKey) (uint64, bool, error)
	// Done removes key from the queue if its generation is still gen, and
	// reports whether it did.
	Done(ctx context.Context, key PullKey, gen uint64) (bool, error)
}

// DecisionLog keeps the newest decision records of each pull request.
type DecisionLog interface {
	// AddDecision appends a decision record, keeping the newest
	// MaxDecisions per pull request.
	AddDecision(ctx context.Context, rec DecisionRecord) error
	// Decisions returns up to limit records for key, newest first.
	Decisions(ctx context.Context, key PullKey, limit int) ([]DecisionRecord, error)
}

// PolicyArchive keeps every policy revision the gatekeeper served, so that
// any decision can be replayed under the policy that made it.
type PolicyArchive interface {
	// SavePolicy keeps rev under its short revision; saving a revision
	// kept already changes nothing.
	SavePolicy(ctx context.Context, rev PolicyRevision) error
	// Policy returns the revision named by a short or full revision, or an
	// error wrapping ErrNotFound.
	Policy(ctx context.Context, revision string) (PolicyRevision, error)
}

// DeliveryLog is the record of the delivery ids seen (Record writes them),
// which deduplicates redeliveries and tells the delivery sweeper which
// failed deliveries need none.
type DeliveryLog interface {
	// HasDelivery reports whether delivery was recorded (and not yet
	// forgotten).
	HasDelivery(ctx context.Context, delivery string) (bool, error)
	// ForgetDeliveries drops delivery ids recorded before t, and returns
	// how many it dropped.
	ForgetDeliveries(ctx context.Context, before time.Time) (int, error)
}

// QueueItem is one queued pull request.
type QueueItem struct {
	Key        PullKey `json:"key"`
	Generation uint64  `json:"generation"`
}

// MaxDecisions is how many decision records a Store keeps per pull request.
const MaxDecisions = 200

// Evaluator evaluates the release policy's data.gatekeeper.decision.
type Evaluator interface {
	// Evaluate returns the decision for a policy input document. It
	// returns an error wrapping ErrPolicy when the policy cannot be
	// evaluated (it does not compile, or evaluation fails), in which case
	// the Decision, if its State is set, is what the last good policy said,
	// for the record only. input is the gatekeeper's *Input, or any
	// document that encodes as a JSON object (the eval command's, a
	// test's).
	Evaluate(ctx context.Context, input any) (Decision, error)
	// Revision is the content hash of the policy in force.
	Revision() string
	// Ready returns an error while no good policy has ever been loaded.
	Ready() error
}

// Publisher sends commit statuses.
type Publisher interface {
	// Publish sets the commit status of sha. It retries transient
	// failures itself and returns an error only when the status was not
	// sent; the Service then keeps the pull request queued.
	Publish(ctx context.Context, key PullKey, sha string, st Status) error
	// DryRun reports whether statuses are only logged, not posted.
	DryRun() bool
	// Login is the login GitHub names as the creator of the statuses
	// Publish posts (the token's user or app bot), "" while unknown and in
	// a dry run. It tells the gatekeeper's own statuses from anyone
	// else's in its context.
	Login() string
}

// ChecklistName is the name of the check run a GitHub App gatekeeper posts
// beside its commit status. Its own run of that name is never a check of
// the policy nor a foreign claim on the gate.
const ChecklistName = "release-gate checklist"

// Checklister posts the check run beside the commit status (GitHub App
// mode): created once per head, updated when the decision changes. A
// failure is logged; the commit status is the record.
type Checklister interface {
	Checklist(ctx context.Context, key PullKey, sha string, st Status, dec Decision) error
	// Own reports whether c is the gatekeeper's own checklist run (its
	// name, created by its App): never a check of the policy.
	Own(c Check) bool
}

// Status is one commit status.
type Status struct {
	Context     string `json:"context"`
	State       State  `json:"state"`
	Description string `json:"description"`
	TargetURL   string `json:"target_url"`
}

// Responder tells a voter that their vote was counted or refused, once per
// verdict (a reaction, a reply comment).
type Responder interface {
	Answer(ctx context.Context, key PullKey, commentID int64, verdict, why string) error
}

// Notifier tells people (Slack #production) that a release pull request's
// gate changed state. A notification that fails is logged, never retried
// at the gate's expense: the commit status is the record.
type Notifier interface {
	Notify(ctx context.Context, n Notification) error
}

// Notification is one change of a gate's state.
type Notification struct {
	Key         PullKey  `json:"key"`
	Title       string   `json:"title"`
	SHA         string   `json:"sha"`
	From        State    `json:"from"` // "" for the first status
	To          State    `json:"to"`
	Description string   `json:"description"`
	Reasons     []string `json:"reasons"`
	Channel     string   `json:"channel,omitempty"`
	TargetURL   string   `json:"target_url"`
	DryRun      bool     `json:"dry_run"`
}

// Source fills gaps in the evidence from an outside system (GitHub, Jenkins,
// ZenHub). Sources run for the worker, never in a webhook request; the
// worker waits Options.GatherTimeout for one, and a Gather still running
// then goes on (on its own copy of the evidence) until it answers or its
// context ends (gather.go).
type Source interface {
	// Name identifies the source in the evidence and the policy input.
	Name() string
	// Gather looks at the evidence and returns the events that fill its
	// gaps. An error means the source's evidence is unavailable: the
	// decision cannot be success until the source answers again.
	Gather(ctx context.Context, ev *Evidence) ([]Event, error)
}

// Clock tells the time; tests pass a fixed one.
type Clock interface {
	Now() time.Time
}

// SystemClock is the real Clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }
