package gatekeeper

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"
)

// errRetry marks an evaluation that completed but must run again later
// because some evidence source did not answer.
var errRetry = errors.New("evidence incomplete")

// evaluate is one worker's job for one pull request: gather and decide,
// writing nothing. What is left to do is returned as post, which the post
// queue runs apart from the workers (postqueue.go): record the decision and
// what the sources gathered, publish, answer votes, and take the pull
// request off the queue if nothing new arrived meanwhile, in one store
// write when nothing is posted (settle.go). post is nil when nothing is
// left. An error (of evaluate or of post) leaves the pull request queued;
// the scheduler retries it.
func (s *Service) evaluate(ctx context.Context, key PullKey) (post func(context.Context) error, err error) {
	start := s.o.Clock.Now()
	gen, queued, err := s.o.Store.Generation(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("reading queue for %s in the store: %w", key, err)
	}
	if !queued {
		return nil, nil
	}
	ev, err := s.o.Store.Evidence(ctx, key)
	if errors.Is(err, ErrNotFound) {
		_, err = s.o.Store.Done(ctx, key, gen)
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("loading evidence for %s from the store: %w", key, err)
	}
	ev, gathered, incomplete, slow := s.gather(ctx, ev)

	log := s.log.With("repo", key.Owner+"/"+key.Repo, "pr", key.Number, "sha", ev.HeadSHA())
	if ev.PR != nil && !s.o.Gated.GatedBase(ev.PR.BaseRef) && ev.Published == nil {
		// Never into a gated base and never given a status: nothing to say.
		log.InfoContext(ctx, "pull request not gated", "head", ev.PR.HeadRef, "base", ev.PR.BaseRef)
		_, _, err = s.settle(ctx, key, Settlement{Apply: gathered, Dequeue: true, Generation: gen})
		return nil, err
	}

	now := s.o.Clock.Now()
	input, dec, policy, perr := s.decide(ctx, ev, now)
	if len(slow) > 0 {
		// A source did not answer in time; it goes on, and its answer
		// queues the pull request again. What is stored already may
		// make the gate worse (a NOGO, a failed build): that is posted
		// now. What would pass waits for the answer: the status stays
		// as it is (never a new success, and no flapping to pending).
		if dec.State == Success {
			log.InfoContext(ctx, "evidence sources slow; the decision waits for their answer", "sources", slow)
			_, _, err = s.settle(ctx, key, Settlement{Apply: gathered, Dequeue: true, Generation: gen})
			return nil, err
		}
		marked := *ev
		marked.Sources = make(map[string]SourceStatus, len(ev.Sources)+len(slow))
		for name, st := range ev.Sources {
			marked.Sources[name] = st
		}
		for _, name := range slow {
			st := marked.Sources[name]
			st.OK, st.Error, st.CheckedAt = false, fmt.Sprintf("no answer within %s; still asking", s.o.GatherTimeout), now
			marked.Sources[name] = st
		}
		input, dec, policy, perr = s.decide(ctx, &marked, now)
	}
	rec := DecisionRecord{
		ID: NewDecisionID(key, now), Key: key, HeadSHA: ev.HeadSHA(), Decision: dec, Description: dec.Description(),
		EvaluatedAt: now, EvidenceVersion: ev.Version, Input: input,
		Duration: s.o.Clock.Now().Sub(start),
	}
	if perr == nil && !SameVerdict(policy, dec) {
		rec.Policy = &policy
	}
	changed, err := s.changed(ctx, rec)
	if err != nil {
		return nil, err
	}
	s.o.Observer.Evaluated(rec.Duration, dec.State)
	// Reconciling evaluates every open pull request every minute: only a
	// decision that changed is news at INFO.
	level := slog.LevelDebug
	if changed {
		level = slog.LevelInfo
	}
	log.Log(ctx, level, "evaluated", "state", dec.State, "description", rec.Description, "policy", dec.PolicyRevision, "changed", changed)

	c := conclusion{key: key, gen: gen, ev: ev, gathered: gathered, rec: rec, keep: changed, incomplete: incomplete}
	return func(ctx context.Context) error { return s.conclude(ctx, c) }, nil
}

// conclusion is what an evaluation leaves to the post queue.
type conclusion struct {
	key PullKey
	gen uint64
	// ev is the evidence decided on: as loaded, with gathered applied.
	ev *Evidence
	// gathered applies what the sources found to the stored evidence;
	// nil when nothing is to be written.
	gathered func(*Evidence)
	rec      DecisionRecord
	// keep: rec differs from the last decision kept, and is recorded.
	keep       bool
	incomplete bool
}

// conclude records the evaluation, publishes its status and answers votes:
// one store write when nothing is posted; when a status is posted, one
// before the post (which records it as about to be sent, the outbox) and
// one after (which records it sent and takes the pull request off the
// queue); when a dry run "posts" (logs) it, one after, on a Settler.
func (s *Service) conclude(ctx context.Context, c conclusion) error {
	key, ev := c.key, c.ev
	s.release(ctx, key, ev)
	pub, recorded, err := s.publish(ctx, c)
	if err != nil {
		return err
	}
	s.answerVotes(ctx, key, ev, c.rec.Decision.Votes)
	// Nothing more goes to GitHub: the post queue's slots go back before
	// the store write, so that other pull requests' posts, and with them
	// their writes, which the Store commits in groups, need not wait for
	// this one's fsync.
	s.postQ.free(key)
	switch {
	case pub != nil:
		// The post is recorded, and the pull request leaves the queue,
		// last: once it has, everything the evaluation does is done. A
		// dry run kept no outbox (publish): the evaluation is recorded
		// here, in the same write.
		if err := s.recordPosted(ctx, c, pub, !recorded); err != nil {
			return err
		}
	case !recorded:
		// Nothing posted: everything in one write.
		if err := s.record(ctx, c, Settlement{Apply: c.gathered, Dequeue: !c.incomplete, Generation: c.gen}); err != nil {
			return err
		}
	}
	if c.incomplete {
		return errRetry
	}
	return nil
}

// record writes the evaluation's settlement st, with its decision record
// when it is kept, right after checking the lease (a replica paused since
// it read the evidence must not record over a newer holder's work).
func (s *Service) record(ctx context.Context, c conclusion, st Settlement) error {
	if err := s.fenced(ctx, "record"); err != nil {
		return err
	}
	if c.keep {
		st.Decision = &c.rec
	}
	if _, _, err := s.settle(ctx, c.key, st); err != nil {
		return err
	}
	if c.keep && s.o.Decided != nil {
		s.o.Decided(c.rec)
	}
	return nil
}

// decide evaluates the policy on ev and makes its decision fail closed.
// It returns the input, the decision, the policy's own answer and the
// policy's error (the record keeps the answer when the gatekeeper's rules
// changed it, so that a replay compares like with like).
func (s *Service) decide(ctx context.Context, ev *Evidence, now time.Time) (*Input, Decision, Decision, error) {
	input := BuildInput(ev.Counted(s.o.ConfirmClaims), InputOptions{Now: now, Gated: s.o.Gated, StatusContext: s.o.StatusContext, VerifyBuilds: s.o.VerifyBuilds, StageKeys: s.o.StageKeys})
	dec, perr := s.o.Evaluator.Evaluate(ctx, input)
	policy := dec
	s.archive(ctx, dec.PolicyRevision)
	dec = s.guard(ev, dec, perr)
	dec = s.awaitClaims(ev, dec)
	dec = s.notRelease(ev, dec)
	dec = s.foreignGate(ctx, ev, dec)
	return input, dec, policy, perr
}

// changed reports whether rec differs from the last decision kept, and so
// is recorded: reconciling every minute must not push the history of
// changes out of the store.
func (s *Service) changed(ctx context.Context, rec DecisionRecord) (bool, error) {
	last, err := s.o.Store.Decisions(ctx, rec.Key, 1)
	if err != nil {
		return false, fmt.Errorf("loading the last decision for %s from the store: %w", rec.Key, err)
	}
	return len(last) != 1 || last[0].HeadSHA != rec.HeadSHA || last[0].Description != rec.Description ||
		!sameDecision(last[0].Decision, rec.Decision), nil
}

// sameDecision compares two decisions as the store keeps them: an empty
// list the policy returned and the absent one read back are the same.
func sameDecision(a, b Decision) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && bytes.Equal(ja, jb)
}

// gather runs every source, and returns the evidence with what they found
// and their outcome, apply, which makes the same change to the stored
// evidence (written with the decision, settle.go), whether any of them
// failed, and which did not answer within GatherTimeout (slow: their
// stored status is left as it was). apply is nil when there is nothing to
// write.
func (s *Service) gather(ctx context.Context, ev *Evidence) (*Evidence, func(*Evidence), bool, []string) {
	if len(s.o.Sources) == 0 && len(ev.Sources) == 0 {
		return ev, nil, false, nil
	}
	type result struct {
		events  []Event
		err     error
		skipped bool
		slow    bool
	}
	var slow []string
	results := make([]result, len(s.o.Sources))
	// A pull request that is not a release fails whatever its evidence
	// (notRelease) or is not gated at all: only GitHub, which says what it
	// is now (a retargeted pull request may become a release) and what
	// statuses its head carries, is asked about it. Anybody may open such
	// pull requests on a public repository; they must not spend the
	// Jenkins or ZenHub budget the release needs.
	stranger := ev.PR != nil && !s.o.Gated.Release(ev.PR)
	// Each source sees what the sources before it found (the merged pull
	// requests GitHub lists are what ZenHub then verifies), so one
	// evaluation gathers everything it can.
	work := ev.Clone()
	now := s.o.Clock.Now()
	for i, src := range s.o.Sources {
		if stranger && src.Name() != "github" {
			results[i].skipped = true
			continue
		}
		events, err, late := s.ask(ctx, src, work)
		results[i] = result{events: events, err: err, slow: late}
		if late {
			slow = append(slow, src.Name())
			s.log.WarnContext(ctx, "evidence source slow; going on without it", "source", src.Name(), "pr", ev.Key.String(), "waited", s.o.GatherTimeout.String())
		}
		if err != nil {
			s.log.WarnContext(ctx, "gathering evidence", "source", src.Name(), "pr", ev.Key.String(), "err", err)
		}
		for _, e := range events {
			if e.Received.IsZero() {
				e.Received = now
			}
			work.Apply(e)
		}
	}
	incomplete := false
	for _, r := range results {
		if !r.skipped && !r.slow && r.err != nil {
			incomplete = true
		}
	}
	apply := func(cur *Evidence) {
		if cur.Sources == nil {
			cur.Sources = map[string]SourceStatus{}
		}
		// A source no longer configured says nothing any more; its last
		// failure must not hold the pull request pending for ever.
		for name := range cur.Sources {
			if !s.configured(name) {
				delete(cur.Sources, name)
			}
		}
		for i, src := range s.o.Sources {
			r := results[i]
			if r.skipped {
				delete(cur.Sources, src.Name()) // asked nothing, says nothing
				continue
			}
			if r.slow {
				continue // still asking: what it said last stands
			}
			for _, e := range r.events {
				if e.Received.IsZero() {
					e.Received = now
				}
				cur.Apply(e)
			}
			st := SourceStatus{OK: r.err == nil, CheckedAt: now}
			if r.err != nil {
				st.Error = r.err.Error()
				st.Attempts = cur.Sources[src.Name()].Attempts + 1
			}
			cur.Sources[src.Name()] = st
		}
	}
	decided := ev.Clone()
	apply(decided)
	return decided, apply, incomplete, slow
}

// awaitClaims makes the decision wait for GitHub to confirm the claims
// left out of the input (Evidence.Counted): an approval or vote only a
// webhook brought.
func (s *Service) awaitClaims(ev *Evidence, dec Decision) Decision {
	if !s.o.ConfirmClaims || dec.State == Error || dec.State == Failure {
		return dec
	}
	claims := ev.AwaitedClaims()
	if len(claims) == 0 {
		return dec
	}
	if dec.State == Success {
		dec.State, dec.Channel = Pending, ""
	}
	dec.Waiting = append(claims, dec.Waiting...)
	return dec
}

func (s *Service) configured(name string) bool {
	for _, src := range s.o.Sources {
		if src.Name() == name {
			return true
		}
	}
	return false
}

// guard makes the decision fail closed whatever the policy said: a policy
// error is an error, and success needs a known head and every source
// answering.
func (s *Service) guard(ev *Evidence, dec Decision, perr error) Decision {
	rev := s.o.Evaluator.Revision()
	if dec.PolicyRevision == "" {
		dec.PolicyRevision = rev
	}
	if perr != nil {
		out := Decision{State: Error, Reasons: []string{"release policy: " + perr.Error()},
			PolicyRevision: dec.PolicyRevision, Summary: policyErrorStatus(perr)}
		if dec.State.Valid() && dec.State != Error {
			// What the last good revision said, for the page only.
			last := dec
			last.Votes, last.Summary, last.LastGood = nil, "", nil
			out.LastGood = &last
		}
		return out
	}
	if !dec.State.Valid() || dec.State == Error {
		return Decision{State: Error, Reasons: []string{fmt.Sprintf("release policy returned state %q", dec.State)}, PolicyRevision: dec.PolicyRevision}
	}
	if dec.State == Success && len(dec.Reasons) > 0 {
		dec.State = Failure
	}
	if dec.State == Success && len(dec.Waiting) > 0 {
		dec.State = Pending
	}
	if ev.PR == nil || ev.PR.HeadSHA == "" {
		if dec.State == Success {
			dec.State = Pending
		}
		dec.Waiting = prependOnce(dec.Waiting, "pull request details from GitHub", "pull request details from GitHub")
	}
	for _, name := range sortedKeys(ev.Sources) {
		st := ev.Sources[name]
		if st.OK {
			continue
		}
		// The source's own error text (host names, URLs) is for the
		// signed-in page (the evidence sources table), never the status.
		public := fmt.Sprintf("%s evidence unavailable (%d tries)", name, st.Attempts)
		if st.Attempts == 0 {
			public = name + " evidence unavailable (still asking)" // slow, not failed (gather.go)
		}
		if st.Attempts >= s.o.SourceErrorLimit {
			return Decision{State: Error, Reasons: []string{public + ": " + st.Error}, Waiting: dec.Waiting,
				PolicyRevision: dec.PolicyRevision, Summary: "Error: " + public}
		}
		if dec.State == Success {
			dec.State = Pending
		}
		dec.Waiting = prependOnce(dec.Waiting, public, name+" evidence unavailable")
	}
	if dec.State != Success {
		dec.Channel = ""
	}
	return dec
}

// notRelease fails every pull request into a gated base that is not a
// release (another head branch, or a fork's), whatever the policy said: the
// base is the gate, and without a status of the gatekeeper's a hand-set
// success would let it merge. A policy error stays an error.
func (s *Service) notRelease(ev *Evidence, dec Decision) Decision {
	pr := ev.PR
	if pr == nil || s.o.Gated.Release(pr) || !s.o.Gated.GatedBase(pr.BaseRef) || dec.State == Error {
		return dec
	}
	return Decision{State: Failure, Reasons: []string{s.o.Gated.NotReleaseReason(pr)}, PolicyRevision: dec.PolicyRevision}
}

// policyErrorStatus is the public status description of a policy error:
// "policy error: " and where the policy is wrong (file:line first), as the
// evaluator summarises it; never the error's full text, which may name
// paths and hosts and is shown on the signed-in page.
func policyErrorStatus(err error) string {
	if s := PolicySummary(err); s != "" {
		return "policy error: " + s
	}
	return "policy error: see the details page"
}

// notify tells the Notifier when the gate turned ready, blocked or errored,
// or stopped being ready. Pending alone is not news: every push passes
// through it. A failed notification is logged; the status was posted.
func (s *Service) notify(ctx context.Context, ev *Evidence, rec DecisionRecord, st Status) {
	if s.o.Notifier == nil {
		return
	}
	if ev.PR != nil && !s.o.Gated.Release(ev.PR) {
		// #production hears about releases; the failure of any other
		// pull request into the base is its status alone.
		return
	}
	var from State
	if ev.Published != nil {
		from = ev.Published.State
	}
	if from == st.State || (st.State == Pending && from != Success) {
		return
	}
	n := Notification{Key: ev.Key, SHA: rec.HeadSHA, From: from, To: st.State, Description: st.Description,
		Reasons: rec.Decision.Reasons, Channel: rec.Decision.Channel, TargetURL: st.TargetURL, DryRun: s.o.Publisher.DryRun()}
	if ev.PR != nil {
		n.Title = ev.PR.Title
	}
	// Bounded: a slow Slack must not hold a worker that other pull
	// requests wait for.
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := s.o.Notifier.Notify(ctx, n); err != nil {
		s.log.WarnContext(ctx, "notifying #production", "pr", ev.Key.String(), "state", st.State, "err", err)
	}
}

// prependOnce puts s first unless the policy already said it (an item
// starting with prefix), so that the description does not repeat itself.
func prependOnce(list []string, s, prefix string) []string {
	for _, item := range list {
		if strings.HasPrefix(item, prefix) {
			return list
		}
	}
	return append([]string{s}, list...)
}

func sortedKeys(m map[string]SourceStatus) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// backoff returns the wait before attempt n (1-based) of a failing pull
// request: RetryMin doubled per attempt, capped at RetryMax.
func (s *Service) backoff(n int) time.Duration {
	d := s.o.RetryMin
	for i := 1; i < n && d < s.o.RetryMax; i++ {
		d *= 2
	}
	if d > s.o.RetryMax {
		d = s.o.RetryMax
	}
	return d
}

// answerVotes tells each voter the policy's verdict on their vote, once per
// verdict: a vote edited from refused to counted is answered again. An
// answer is a courtesy, never part of the gate: one that fails (a deleted
// comment, a token without write access) is logged and tried again at the
// next evaluation, and never holds the pull request back.
func (s *Service) answerVotes(ctx context.Context, key PullKey, ev *Evidence, verdicts []VoteVerdict) {
	if s.o.Responder == nil {
		return
	}
	// toldNow are the refusals told in this round (ev is not changed: it
	// may be the store's cached copy).
	toldNow := map[string]string{}
	for _, v := range verdicts {
		if v.Verdict != "counted" && v.Verdict != "refused" {
			continue
		}
		if ev.Answered[v.CommentID] == v.Verdict {
			continue
		}
		a := &Answer{CommentID: v.CommentID, Verdict: v.Verdict}
		if v.Verdict == "refused" {
			a.User, a.Why = v.User, v.Why
		}
		// A refusal the person was already told is recorded, not told
		// again: thirty /go from a stranger are one reply, not thirty.
		told := v.Verdict == "refused" && v.User != "" && told(ev, toldNow, v.User, v.Why)
		if !told {
			actx, cancel := context.WithTimeout(ctx, s.o.PublishTimeout)
			err := s.o.Responder.Answer(actx, key, v.CommentID, v.Verdict, v.Why)
			cancel()
			if err != nil {
				s.log.WarnContext(ctx, "answering a vote", "pr", key.String(), "comment", v.CommentID, "verdict", v.Verdict, "err", err)
				continue
			}
		}
		_, err := s.o.Store.Update(ctx, key, func(cur *Evidence) {
			cur.Apply(Event{Name: "gatekeeper.vote_answered", Received: s.o.Clock.Now(), Answered: a})
		})
		if a.User != "" {
			toldNow[a.User] = a.Why
		}
		if err != nil {
			s.log.WarnContext(ctx, "recording the answer to a vote", "pr", key.String(), "comment", v.CommentID, "err", err)
		}
	}
}

// told reports whether user was last told a command was refused for why,
// in this round (now) or before (ev).
func told(ev *Evidence, now map[string]string, user, why string) bool {
	if last, ok := now[user]; ok {
		return last == why
	}
	last, ok := ev.Refusals[user]
	return ok && last == why
}
