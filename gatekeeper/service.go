package gatekeeper

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// Options configure a Service. Store, Evaluator and Publisher are required;
// every other field has a default.
type Options struct {
	Store     Store
	Evaluator Evaluator
	Publisher Publisher
	// Responder answers vote comments; nil means votes are not answered.
	Responder Responder
	// Checklist posts the check run beside the status (GitHub App mode);
	// nil means none.
	Checklist Checklister
	// Notifier tells #production when a gate turns ready, blocked or
	// errored, or stops being ready; nil means no notifications.
	Notifier Notifier
	// Sources fill gaps in the evidence before each evaluation.
	Sources  []Source
	Clock    Clock
	Logger   *slog.Logger
	Observer Observer

	Gated         BranchPairs
	StatusContext string // default "release-gate"
	PublicURL     string // base of the status target_url
	// VerifyBuilds is true when a source reads builds from Jenkins' REST
	// API (JENKINS_URL): then only what it states counts (InputOptions).
	VerifyBuilds bool
	// ConfirmClaims is true when a source reads reviews and comments from
	// GitHub's REST API (a token or an App): then an approval or a vote
	// that only a webhook brought counts once GitHub has shown it
	// (Evidence.Counted). False (a dry run): webhooks are believed.
	ConfirmClaims bool
	// StageKeys maps Jenkins stage names onto release stages with the
	// policy data in force (InputOptions); nil keeps the recorded keys.
	StageKeys func() func(name string) string

	Workers int // default 4
	// PostsPerRepo and PostsPerOwner bound the posts to GitHub (status,
	// checklist, vote answers) in flight at once for one repository and
	// for one owner; the others wait in line for their own target only,
	// and no worker waits for a post (postqueue.go). Defaults
	// DefaultPostsPerRepo and DefaultPostsPerOwner.
	PostsPerRepo, PostsPerOwner int
	// PublishTimeout bounds one status post with its retries (and each
	// checklist post and vote answer): past it the post counts as failed
	// and the pull request is tried again after its backoff. Default
	// DefaultPublishTimeout.
	PublishTimeout time.Duration
	// RetryMin and RetryMax bound the backoff between attempts to
	// evaluate a pull request whose evaluation or publication failed.
	RetryMin, RetryMax time.Duration
	// SourceErrorLimit is how many consecutive failures of one source turn
	// the state from pending into error. Default 8 (about two minutes).
	SourceErrorLimit int
	// GatherTimeout is how long an evaluation waits for one evidence
	// source. One that overruns goes on in the background, and its
	// answer queues the pull request again; meanwhile the evaluation
	// posts what the stored evidence says when that is not a pass (a
	// NOGO is never held back by a slow Jenkins), and otherwise leaves
	// the status as it is. Default DefaultGatherTimeout.
	GatherTimeout time.Duration
	// Reconcile is how often every open gated pull request is evaluated
	// again (a Jenkins build read again, a lost webhook made up for), and
	// how often, apart from that and within the same time, the
	// Discoverer lists the open pull requests. Default one minute.
	Reconcile time.Duration
	// WindowEdge returns the first time after now at which the release
	// window opens or closes, as the policy data in force says, and false
	// when there is none (the window is not enforced, or its data is
	// wrong). Every open gated pull request is evaluated again at that
	// time, so that a success does not outlast the window's close. nil:
	// only the Reconcile timer notices the window.
	WindowEdge func(now time.Time) (time.Time, bool)
	// Rescan is how often the durable queue is read back, so that work
	// whose in-memory notification was dropped is still done.
	Rescan time.Duration
	// DeliveryTTL is how long delivery ids are remembered for
	// deduplication. GitHub redelivers for 3 days (7 on GHES).
	DeliveryTTL time.Duration
	// DrainTimeout bounds how long shutdown waits for evaluations in flight.
	DrainTimeout time.Duration
	// Debounce is how long new evidence waits before its evaluation, so
	// that a burst of webhooks is one evaluation. Default 200ms; negative
	// means none.
	Debounce time.Duration

	// Leaser gives one replica at a time the right to evaluate a pull
	// request. Default: the Store when it is a Leaser (Redis), else
	// leases in this process.
	Leaser Leaser
	// NamedLeaser gives one replica at a time the right to post on a
	// commit, and to run the reconcile timer. Default: Leaser when it is
	// a NamedLeaser, else the Store when it is one, else leases in this
	// process.
	NamedLeaser NamedLeaser
	// LeaseTTL is how long a lease lasts unless renewed (every third of
	// it): how soon the work of a replica that died or paused is taken
	// over. Default 10s.
	LeaseTTL time.Duration
	// ReplicaID names this process as a lease holder. Default: host
	// name, process id and a random suffix.
	ReplicaID string
	// Discoverer finds the pull requests whose webhooks were lost
	// (discover.go); nil (a dry run) means none are looked for.
	Discoverer Discoverer
	// Decided, when set, is called with every decision record the store
	// keeps, after it is kept (the GO/NOGO board's live updates). It must
	// not block: it runs on a worker.
	Decided func(DecisionRecord)
}

// Observer receives the Service's measurements; webhooks exports them as
// Prometheus metrics. A nil Observer in Options means none.
type Observer interface {
	Evaluated(d time.Duration, state State)
	Published(state State, err error)
	QueueDepth(n int)
}

// LagObserver is an Observer that also measures how stale a status is when
// it is posted: the time from the arrival of the newest delivery the
// evaluation saw (a webhook's acceptance) to the post that reflects it.
// It is optional, so that existing Observers need not change; the
// Prometheus metrics implement it as a histogram an SRE can put an
// objective on.
type LagObserver interface {
	StatusLag(d time.Duration)
}

// Outcome says what Accept did with an event.
type Outcome string

// The outcomes of Accept.
const (
	Accepted  Outcome = "accepted"
	Duplicate Outcome = "duplicate"
	Ignored   Outcome = "ignored"
)

// Service turns events into decisions and commit statuses. Accept is called
// by the webhook receivers; Run runs the workers.
type Service struct {
	o     Options
	log   *slog.Logger
	sched *scheduler
	// posts runs what an evaluation posts to GitHub, apart from the
	// workers (postqueue.go).
	postQ *postQueue
	// gathers are the evidence sources' calls, some outliving the
	// evaluation that made them (gather.go).
	gathers *gathers
	// locks serialise the posts on one commit (see publish.go).
	locks keyedLocks
	// reconciler is this replica's lease on running the reconcile timer
	// (see commitlease.go).
	reconciler *TimerLease
	// archived: the policy revisions saved for replay (see audit.go).
	archived archived
	// disc is what the Discoverer is asked about (discover.go).
	disc *discovery
}

// New checks the options, fills in defaults and returns a Service.
func New(o Options) (*Service, error) {
	var missing []string
	if o.Store == nil {
		missing = append(missing, "store")
	}
	if o.Evaluator == nil {
		missing = append(missing, "evaluator")
	}
	if o.Publisher == nil {
		missing = append(missing, "publisher")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("creating service: missing %s: %w", strings.Join(missing, ", "), ErrInvalid)
	}
	if o.Clock == nil {
		o.Clock = SystemClock{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Observer == nil {
		o.Observer = nopObserver{}
	}
	if o.StatusContext == "" {
		o.StatusContext = "release-gate"
	}
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.PostsPerRepo <= 0 {
		o.PostsPerRepo = DefaultPostsPerRepo
	}
	if o.PostsPerOwner <= 0 {
		o.PostsPerOwner = DefaultPostsPerOwner
	}
	if o.PublishTimeout <= 0 {
		o.PublishTimeout = DefaultPublishTimeout
	}
	if o.RetryMin <= 0 {
		o.RetryMin = time.Second
	}
	if o.RetryMax < o.RetryMin {
		o.RetryMax = 5 * time.Minute
	}
	if o.SourceErrorLimit <= 0 {
		// With the default backoff (1s doubling) eight failures span about
		// two minutes: a restarting Jenkins shows as pending, an outage as
		// error.
		o.SourceErrorLimit = 8
	}
	if o.GatherTimeout <= 0 {
		o.GatherTimeout = DefaultGatherTimeout
	}
	if o.Reconcile <= 0 {
		o.Reconcile = time.Minute
	}
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = DefaultLeaseTTL
	}
	if o.Leaser == nil {
		if l, ok := o.Store.(Leaser); ok {
			o.Leaser = l
		} else {
			o.Leaser = NewLocalLeases(nil)
		}
	}
	if o.NamedLeaser == nil {
		if l, ok := o.Leaser.(NamedLeaser); ok {
			o.NamedLeaser = l
		} else if l, ok := o.Store.(NamedLeaser); ok {
			o.NamedLeaser = l
		} else {
			o.NamedLeaser = NewLocalLeases(nil)
		}
	}
	if o.ReplicaID == "" {
		o.ReplicaID = replicaID()
	}
	if o.Rescan <= 0 {
		// Another replica's work is found here when it dies: within a
		// lease and a half of its last renewal.
		o.Rescan = min(30*time.Second, o.LeaseTTL/2)
	}
	if o.DeliveryTTL <= 0 {
		o.DeliveryTTL = 8 * 24 * time.Hour
	}
	if o.DrainTimeout <= 0 {
		o.DrainTimeout = 30 * time.Second
	}
	if o.Debounce == 0 {
		o.Debounce = 200 * time.Millisecond
	}
	o.PublicURL = strings.TrimRight(o.PublicURL, "/")
	s := &Service{o: o, log: o.Logger, disc: newDiscovery(), gathers: newGathers(), postQ: newPostQueue(o.PostsPerRepo, o.PostsPerOwner)}
	s.reconciler = s.TimerLease(reconcilerLeaseName, s.reconcileTTL())
	s.sched = newScheduler(s)
	return s, nil
}

// Accept records an event durably and queues its pull request. When it
// returns Accepted the event survives a crash. It never calls GitHub or
// evaluates policy: it is on the webhook request's path.
//
// An event about a pull request that is not into a gated base branch and
// not already known is Ignored, and so is a build of a pull request not
// tracked; an event that names only a commit (status, check_run) is applied
// to every known pull request of its repository that had that head, and
// Ignored when there is none; a push to a gated base branch is applied to
// every open pull request of its repository into it.
func (s *Service) Accept(ctx context.Context, e Event) (Outcome, error) {
	if c := e.Check; c != nil && s.ownCheckRun(*c) {
		// The gatekeeper's own checklist run: its own posts are no news;
		// a "Re-evaluate" or a re-run asks for an evaluation only.
		if !strings.HasSuffix(e.Name, ".rerequested") && !strings.HasSuffix(e.Name, ".requested_action") {
			s.log.DebugContext(ctx, "event ignored", "delivery", e.Delivery, "event", e.Name, "why", "the gatekeeper's own check run")
			return Ignored, nil
		}
		e.Check = nil
	}
	keys, why, err := s.route(ctx, e)
	if err != nil {
		return "", err
	}
	if len(keys) == 0 {
		s.log.DebugContext(ctx, "event ignored", "delivery", e.Delivery, "event", e.Name, "why", why)
		return Ignored, nil
	}
	if e.Received.IsZero() {
		e.Received = s.o.Clock.Now()
	}
	err = s.o.Store.Record(ctx, e.Delivery, keys, func(ev *Evidence) { ev.Apply(e) })
	if errors.Is(err, ErrDuplicate) {
		return Duplicate, nil
	}
	if err != nil {
		return "", fmt.Errorf("recording %s %s: %w", e.Name, e.Delivery, err)
	}
	for _, k := range keys {
		s.sched.notify(k)
	}
	return Accepted, nil
}

// route finds the pull requests an event is about.
func (s *Service) route(ctx context.Context, e Event) ([]PullKey, string, error) {
	s.disc.saw(e.Repo)
	if e.BaseTip != nil {
		return s.routeTip(ctx, e)
	}
	if !e.Key.Valid() {
		if e.SHA == "" {
			return nil, "names no pull request and no commit", nil
		}
		return s.routeSHA(ctx, e)
	}
	if e.Build != nil && e.PullRequest == nil {
		// A Jenkins notification or report never starts tracking a pull
		// request: anyone can build anything, and only GitHub says what
		// is gated. A build of a pull request nothing gates is dropped
		// (asking GitHub about it again and again would be the cost); a
		// build whose notification came before the pull request's webhook
		// is found again by the Jenkins source.
		ev, err := s.o.Store.Evidence(ctx, e.Key)
		if errors.Is(err, ErrNotFound) {
			return nil, "build of a pull request that is not tracked", nil
		}
		if err != nil {
			return nil, "", fmt.Errorf("loading evidence for %s: %w", e.Key, err)
		}
		if ev.PR != nil && !s.o.Gated.GatedBase(ev.PR.BaseRef) && ev.Published == nil {
			return nil, "build of a pull request that is not gated", nil
		}
	}
	if e.PullRequest == nil && len(s.o.Sources) == 0 {
		// A comment or review about a pull request the gatekeeper has
		// never seen, and no source to learn its branches from: it cannot
		// be told apart from any other pull request in the organisation.
		_, err := s.o.Store.Evidence(ctx, e.Key)
		if errors.Is(err, ErrNotFound) {
			return nil, "unknown pull request and no GitHub source to look it up", nil
		}
		if err != nil {
			return nil, "", fmt.Errorf("loading evidence for %s: %w", e.Key, err)
		}
	}
	if pr := e.PullRequest; pr != nil && !s.o.Gated.GatedBase(pr.BaseRef) {
		// Every pull request into a gated base is gated (a release or
		// not). One that was and is retargeted stays tracked, so that
		// its evidence and status are not silently abandoned.
		_, err := s.o.Store.Evidence(ctx, e.Key)
		if errors.Is(err, ErrNotFound) {
			return nil, "base " + pr.BaseRef + " is not gated", nil
		}
		if err != nil {
			return nil, "", fmt.Errorf("loading evidence for %s: %w", e.Key, err)
		}
	}
	return []PullKey{e.Key}, "", nil
}

// routeSHA finds the pull requests of the event's repository whose head
// is or was the event's commit. A fork, a mirror or an organisation-wide
// hook delivers statuses of the same sha from other repositories: they are
// not evidence about this repository's pull requests.
func (s *Service) routeSHA(ctx context.Context, e Event) ([]PullKey, string, error) {
	if e.Repo == nil {
		return nil, "names no repository", nil
	}
	keys, err := s.o.Store.PullsForSHA(ctx, e.SHA)
	if err != nil {
		return nil, "", fmt.Errorf("finding pull requests for %s: %w", e.SHA, err)
	}
	var out []PullKey
	for _, k := range keys {
		ok, err := s.ofRepo(ctx, k, e.Repo)
		if err != nil {
			return nil, "", err
		}
		if ok {
			out = append(out, k)
		}
	}
	if len(out) == 0 {
		if e.Check != nil && e.Check.Name == s.o.StatusContext {
			// A release-gate status on a commit no known pull request
			// has: a pull request whose opened delivery was lost, and a
			// status set by hand on it. Find it, off this request.
			s.disc.lookup(e.Repo, e.SHA)
		}
		return nil, "no known pull request of " + e.Repo.Owner + "/" + e.Repo.Name + " has head " + e.SHA, nil
	}
	return out, "", nil
}

// ofRepo reports whether the pull request key is of repository r: by id
// when its snapshot and r both know it, else by name.
func (s *Service) ofRepo(ctx context.Context, key PullKey, r *Repo) (bool, error) {
	ev, err := s.o.Store.Evidence(ctx, key)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("loading evidence for %s: %w", key, err)
	}
	pr := ev.PR
	if pr == nil {
		pr = &PullRequest{Key: key}
	}
	return pr.SameRepo(r.ID, r.Owner, r.Name), nil
}

// routeTip finds the open pull requests of the event's repository into the
// branch a push moved, when that branch is a gated base: each learns the
// new tip and is evaluated again, since its PR-merge build no longer
// merged today's base.
func (s *Service) routeTip(ctx context.Context, e Event) ([]PullKey, string, error) {
	t := e.BaseTip
	if !s.o.Gated.GatedBase(t.Ref) {
		return nil, "branch " + t.Ref + " is not a gated base", nil
	}
	if e.Repo == nil {
		return nil, "names no repository", nil
	}
	keys, err := s.o.Store.PullsIndexed(ctx, BaseTerms(e.Repo.ID, e.Repo.Owner, e.Repo.Name, t.Ref)...)
	if err != nil {
		return nil, "", fmt.Errorf("listing pull requests into %s: %w", t.Ref, err)
	}
	var out []PullKey
	for _, k := range keys {
		ev, err := s.o.Store.Evidence(ctx, k)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, "", fmt.Errorf("loading evidence for %s: %w", k, err)
		}
		if pr := ev.PR; pr != nil && pr.State == "open" && pr.BaseRef == t.Ref && pr.SameRepo(e.Repo.ID, e.Repo.Owner, e.Repo.Name) {
			out = append(out, k)
		}
	}
	if len(out) == 0 {
		return nil, "no open pull request of " + e.Repo.Owner + "/" + e.Repo.Name + " into " + t.Ref, nil
	}
	return out, "", nil
}

// Enqueue queues a pull request for evaluation, for example on a user's
// request from the details page or after a reconcile.
func (s *Service) Enqueue(ctx context.Context, key PullKey) error {
	if err := s.o.Store.Enqueue(ctx, key); err != nil {
		return fmt.Errorf("queueing %s: %w", key, err)
	}
	s.sched.notify(key)
	return nil
}

// Reconcile queues every open, gated pull request (and every one whose
// snapshot is still missing) for evaluation. It runs on a timer, so that
// time-based rules apply and a lost webhook is made up for, at the release
// window's edges, and whenever the policy changes, so that new rules apply
// at once. It reads only the Store: the Discoverer's listing of GitHub
// runs apart (discover.go), and never holds it back.
func (s *Service) Reconcile(ctx context.Context) error {
	keys, err := s.o.Store.Pulls(ctx)
	if err != nil {
		return fmt.Errorf("listing pull requests to reconcile: %w", err)
	}
	var errs []error
	for _, k := range keys {
		ev, err := s.o.Store.Evidence(ctx, k)
		if err != nil {
			errs = append(errs, fmt.Errorf("loading evidence for %s: %w", k, err))
			continue
		}
		if ev.PR == nil || (ev.PR.State == "open" && s.o.Gated.GatedBase(ev.PR.BaseRef)) {
			if err := s.Enqueue(ctx, k); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// Run runs the workers until ctx is done, then waits for evaluations in
// flight (cancelled after DrainTimeout, and awaited with the notifications
// they send) and for the timer's reconcile and delivery-id janitor, and
// returns. When Run returns nothing it started uses the Store, so the
// caller may close it. Work still queued stays in the Store for the next
// start.
func (s *Service) Run(ctx context.Context) error {
	err := s.sched.run(ctx)
	s.gathers.close() // a slow source's call still running ends here
	return err
}

// TargetURL is the details page of a pull request.
func (s *Service) TargetURL(key PullKey) string {
	return fmt.Sprintf("%s/pulls/%s/%s/%d", s.o.PublicURL, key.Owner, key.Repo, key.Number)
}

// Ready reports whether the service can do its job: a policy is loaded and
// the store answers.
func (s *Service) Ready(ctx context.Context) error {
	if err := s.o.Evaluator.Ready(); err != nil {
		return fmt.Errorf("policy: %w", err)
	}
	if err := s.o.Store.Ping(ctx); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}

// PullView is everything the API and the details page show for one pull
// request.
type PullView struct {
	Key       PullKey          `json:"key"`
	TargetURL string           `json:"target_url"`
	Queued    bool             `json:"queued"`
	Evidence  *Evidence        `json:"evidence"`
	Latest    *DecisionRecord  `json:"latest_decision"`
	History   []DecisionRecord `json:"history"`
	// DryRun is true when statuses are logged, not posted.
	DryRun bool `json:"dry_run"`
	// Sources names the evidence sources configured, in gathering order.
	Sources []string `json:"sources"`
	// VerifyBuilds is true when builds are read from Jenkins' REST API;
	// false: what is known of a build is only claimed.
	VerifyBuilds bool `json:"verify_builds"`
	// ConfirmClaims is true when approvals and votes count only once
	// GitHub's REST API has shown them; false: webhooks are believed.
	ConfirmClaims bool `json:"confirm_claims"`
}

// Pull returns the view of one pull request, with up to history decision
// records, or ErrNotFound.
func (s *Service) Pull(ctx context.Context, key PullKey, history int) (*PullView, error) {
	ev, err := s.o.Store.Evidence(ctx, key)
	if err != nil {
		return nil, err // the Store's error names the pull request
	}
	recs, err := s.o.Store.Decisions(ctx, key, history)
	if err != nil {
		return nil, fmt.Errorf("loading decisions for %s: %w", key, err)
	}
	_, queued, err := s.o.Store.Generation(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("reading queue for %s: %w", key, err)
	}
	v := &PullView{Key: key, TargetURL: s.TargetURL(key), Queued: queued, Evidence: ev, History: recs, DryRun: s.o.Publisher.DryRun(), VerifyBuilds: s.o.VerifyBuilds, ConfirmClaims: s.o.ConfirmClaims}
	for _, src := range s.o.Sources {
		v.Sources = append(v.Sources, src.Name())
	}
	if len(recs) > 0 {
		v.Latest = &recs[0]
	}
	return v, nil
}

type nopObserver struct{}

func (nopObserver) Evaluated(time.Duration, State) {}
func (nopObserver) Published(State, error)         {}
func (nopObserver) QueueDepth(int)                 {}

// ownCheckRun reports whether c is the gatekeeper's own checklist run, as
// its Checklister (which knows the App) says.
func (s *Service) ownCheckRun(c Check) bool {
	return s.o.Checklist != nil && c.Kind == "check_run" && c.Name == ChecklistName && s.o.Checklist.Own(c)
}
