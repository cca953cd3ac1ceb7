package gatekeeper

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// A commit carries one release-gate status, however many pull requests
// have it as their head (a closed release reopened as a new one, two gated
// pairs from one branch). The rules that keep the gatekeeper from fighting
// itself over it:
//
//   - Only open pull requests the gatekeeper gates post; a closed one never
//     does, and re-queues the open ones that shared its head so that their
//     status stops naming it.
//   - The status on a shared head is the worst of the open pull requests'
//     latest decisions (error > failure > pending > success), naming each
//     ("#2: …; #5: …"), linking to the worst one's page. Every evaluation
//     of any of them computes the same status from the stored decisions, so
//     once they are settled nothing is posted at all.
//   - What the gatekeeper last posted on a commit is the newest
//     PublishedStatus among the pull requests that had it as head; posts
//     on one commit are serialised, so that this order is GitHub's order.
//   - A status in the gatekeeper's context that GitHub says its own token
//     created is never taken for an overwrite. One by anybody else is
//     corrected, once per status, at most with growing pauses (another
//     system posting in the context cannot start a war of posts), and is
//     named in the decision while it is the newest on the commit.
//   - A check run in the gatekeeper's context is always someone else's (the
//     gatekeeper posts statuses): it fails the gate by name.

// severity orders states for the status of a shared head: the worst wins.
var severity = map[State]int{Success: 0, Pending: 1, Failure: 2, Error: 3}

// maxCorrectionPause bounds the pause between two corrections in a row of
// someone else's statuses on one commit. It is short because while it
// runs a hand-set status may stand; at one post a minute, a war with
// another system costs the token's hourly budget (5,000) nothing much.
const maxCorrectionPause = time.Minute

// correctionPause is how long after the n-th correction in a row (n ≥ 1)
// the next one waits: 2s, 4s, 8s, … up to maxCorrectionPause.
func correctionPause(n int) time.Duration {
	if n >= 6 {
		return maxCorrectionPause
	}
	return min(time.Second<<n, maxCorrectionPause)
}

// posts reports whether an evaluation of the pull request sets the status
// of its head: it is open (or not described by GitHub yet) and into a gated
// base (a release or not: the base is the gate), or was given a status
// before it was retargeted. It mirrors the "not gated" test of evaluate.
func (s *Service) posts(ev *Evidence) bool {
	if ev.PR == nil {
		return true
	}
	return ev.PR.State == "open" && (s.o.Gated.GatedBase(ev.PR.BaseRef) || ev.Published != nil)
}

// peers loads the other pull requests of key's repository whose head is or
// was sha. Statuses belong to a repository's commit: a fork or mirror with
// the same sha has statuses of its own.
func (s *Service) peers(ctx context.Context, key PullKey, sha string) ([]*Evidence, error) {
	if sha == "" {
		return nil, nil
	}
	keys, err := s.o.Store.PullsForSHA(ctx, sha)
	if err != nil {
		return nil, fmt.Errorf("finding pull requests for %s: %w", sha, err)
	}
	var out []*Evidence
	for _, k := range keys {
		if k == key || !strings.EqualFold(k.Owner, key.Owner) || !strings.EqualFold(k.Repo, key.Repo) {
			continue
		}
		ev, err := s.o.Store.Evidence(ctx, k)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("loading evidence for %s: %w", k, err)
		}
		out = append(out, ev)
	}
	return out, nil
}

// ours reports whether login is the gatekeeper's: the login its Publisher
// reports, or the creator GitHub named for a status it posted on one of
// these pull requests. An empty login is nobody's.
func (s *Service) ours(login string, evs ...*Evidence) bool {
	if login == "" {
		return false
	}
	if l := s.o.Publisher.Login(); l != "" && strings.EqualFold(l, login) {
		return true
	}
	for _, ev := range evs {
		if p := ev.Published; p != nil && p.Creator != "" && strings.EqualFold(p.Creator, login) {
			return true
		}
	}
	return false
}

// foreign lists the checks in the gatekeeper's own context on sha that
// someone else posted: every check run, and the newest status when GitHub
// names a creator that is not the gatekeeper.
func (s *Service) foreign(ev *Evidence, sha string, peers []*Evidence) []Check {
	var out []Check
	for _, c := range ev.Checks {
		// Whatever GitHub's matching of required checks, a name that
		// differs only in case is treated as a claim on the gate.
		if c.SHA != sha || !strings.EqualFold(c.Name, s.o.StatusContext) {
			continue
		}
		if c.Kind == "check_run" || c.Name != s.o.StatusContext || (c.Creator != "" && !s.ours(c.Creator, append([]*Evidence{ev}, peers...)...)) {
			out = append(out, c)
		}
	}
	return out
}

// foreignGate names, in the decision, every check or status in the
// gatekeeper's context on the head that someone else posted, and makes the
// decision a failure (an error stays an error). Whoever can post in that
// context can make the merge button show their verdict as the release
// gate's; a release manager must see it and never mistake it for ours.
func (s *Service) foreignGate(ctx context.Context, ev *Evidence, dec Decision) Decision {
	sha := ev.HeadSHA()
	if sha == "" || !s.posts(ev) {
		return dec
	}
	peers, err := s.peers(ctx, ev.Key, sha)
	if err != nil {
		// Without the other pull requests a status of ours posted for
		// one of them may look foreign: still named, never a pass.
		s.log.WarnContext(ctx, "loading the pull requests sharing a head", "pr", ev.Key.String(), "sha", sha, "err", err)
	}
	var named []string
	for _, c := range s.foreign(ev, sha, peers) {
		what := "status"
		if c.Kind == "check_run" {
			what = "check run"
		}
		who := c.Creator
		if who == "" {
			who = "an app GitHub did not name"
		}
		named = append(named, fmt.Sprintf("a %s %s from someone else (%s) is on this commit", c.Name, what, who))
		s.log.WarnContext(ctx, "someone else's check in the gatekeeper's context", "pr", ev.Key.String(), "sha", sha,
			"kind", c.Kind, "creator", c.Creator, "state", c.State)
	}
	if len(named) == 0 {
		return dec
	}
	if dec.State == Error {
		dec.Reasons = append(dec.Reasons, named...)
		if dec.Summary != "" {
			// The status names them too, after the error.
			dec.Summary = strings.Join(append([]string{dec.Summary}, named...), "; ")
		}
		return dec
	}
	dec.State, dec.Channel = Failure, ""
	dec.Reasons = append(named, dec.Reasons...)
	return dec
}

// member is one open pull request's part in the status of a shared head.
type member struct {
	key   PullKey
	state State
	desc  string
	gated bool
	// writes: the author may write to the repository, or is unknown.
	writes bool
}

// gated reports whether the pull request is a release pull request (or not
// described by GitHub yet, which may well be): on a gated branch pair and
// not from a fork (BranchPairs.Release).
func (s *Service) gated(ev *Evidence) bool {
	return ev.PR == nil || s.o.Gated.Release(ev.PR)
}

// writes reports whether the pull request's author may write to the
// repository (or it is not described yet).
func writes(ev *Evidence) bool {
	return ev.PR == nil || ev.PR.WritesTo()
}

// shared returns the status of sha: rec's own when no other open gated
// pull request of the repository has sha as head, else the worst of their
// latest decisions naming each. When gated pull requests have the head,
// only they decide: a pull request that is not a release (retargeted, or
// opened from elsewhere at the same commit) must not be able to hold the
// release's commit; merging it would merge the same commit anyway.
func (s *Service) shared(ctx context.Context, key PullKey, ev *Evidence, rec DecisionRecord, peers []*Evidence) (Status, error) {
	sha := ev.HeadSHA()
	all := []member{{key, rec.Decision.State, rec.Description, s.gated(ev), writes(ev)}}
	for _, p := range peers {
		if !s.posts(p) || p.HeadSHA() != sha {
			continue
		}
		m := member{key: p.Key, state: Pending, desc: "Evaluating", gated: s.gated(p), writes: writes(p)}
		recs, err := s.o.Store.Decisions(ctx, p.Key, 1)
		if err != nil {
			return Status{}, fmt.Errorf("loading the last decision for %s: %w", p.Key, err)
		}
		if len(recs) == 1 && recs[0].HeadSHA == sha {
			m.state, m.desc = recs[0].Decision.State, recs[0].Description
		}
		all = append(all, m)
	}
	members := all
	if slices.ContainsFunc(all, func(m member) bool { return m.gated }) {
		members = slices.DeleteFunc(slices.Clone(all), func(m member) bool { return !m.gated })
	}
	// Nor may a stranger's pull request at the release's head (anyone can
	// open one on a public repository): while one of an author with write
	// access is there, only those decide (see PullRequest.WritesTo).
	if slices.ContainsFunc(members, func(m member) bool { return m.writes }) {
		members = slices.DeleteFunc(members, func(m member) bool { return !m.writes })
	}
	sort.Slice(members, func(i, j int) bool {
		a, b := members[i], members[j]
		if severity[a.state] != severity[b.state] {
			return severity[a.state] > severity[b.state]
		}
		return a.key.Number < b.key.Number
	})
	st := Status{Context: s.o.StatusContext, State: members[0].state, TargetURL: s.TargetURL(members[0].key)}
	if len(members) == 1 {
		st.Description = members[0].desc
		return st, nil
	}
	st.Description = namedDescription(members)
	return st, nil
}

// namedDescription joins "#N: description" for every member within
// MaxDescription characters: each description gets a fair share of the
// room, and when even the numbers do not fit the rest are counted.
func namedDescription(members []member) string {
	prefix := func(m member) string { return "#" + strconv.Itoa(m.key.Number) + ": " }
	full := make([]string, len(members))
	for i, m := range members {
		full[i] = prefix(m) + m.desc
	}
	if s := strings.Join(full, "; "); utf8.RuneCountInString(s) <= MaxDescription {
		return s
	}
	const minShare = 12
	room := MaxDescription - 2*(len(members)-1)
	for _, m := range members {
		room -= utf8.RuneCountInString(prefix(m))
	}
	if room/len(members) < minShare {
		// Too many to describe: the worst first, then the others' numbers.
		s := full[0]
		var rest []string
		for _, m := range members[1:] {
			rest = append(rest, "#"+strconv.Itoa(m.key.Number))
		}
		tail := "; also " + strings.Join(rest, ", ")
		if utf8.RuneCountInString(tail) > MaxDescription/2 {
			tail = fmt.Sprintf("; +%d more", len(rest))
		}
		return truncate(s, MaxDescription-utf8.RuneCountInString(tail)) + tail
	}
	// Shorter descriptions leave their unused share to the longer ones.
	order := make([]int, len(members))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool {
		return utf8.RuneCountInString(members[order[a]].desc) < utf8.RuneCountInString(members[order[b]].desc)
	})
	parts := make([]string, len(members))
	for n, i := range order {
		share := room / (len(members) - n)
		d := truncate(members[i].desc, share)
		room -= utf8.RuneCountInString(d)
		parts[i] = prefix(members[i]) + d
	}
	return strings.Join(parts, "; ")
}

// newestPublished is the last status the gatekeeper sent on sha, over the
// pull requests that had it as head, or nil.
func newestPublished(sha string, evs ...*Evidence) *PublishedStatus {
	var last *PublishedStatus
	var lastKey string
	for _, ev := range evs {
		p := ev.Published
		if p == nil || p.SHA != sha {
			continue
		}
		k := ev.Key.String()
		if last == nil || p.At.After(last.At) || (p.At.Equal(last.At) && k > lastKey) {
			last, lastKey = p, k
		}
	}
	return last
}

// newestStatus is the newest status in the gatekeeper's context on sha
// that the evidence knows, or nil.
func (s *Service) newestStatus(ev *Evidence, sha string) *Check {
	for i := range ev.Checks {
		c := &ev.Checks[i]
		if c.Kind == "status" && c.Name == s.o.StatusContext && c.SHA == sha {
			return c
		}
	}
	return nil
}

// publish sets the status of the pull request's head (see the rules at the
// top of this file) when it differs from what the gatekeeper last sent on
// that commit, or corrects someone else's status there. When it posts, it
// records the evaluation before the post (with the status as about to be
// sent: the outbox), and returns the status posted, which the caller
// records with recordPosted once the votes are answered; recorded is then
// true. A dry run on a Settler keeps no outbox: it returns the status
// "posted" (logged) with recorded false, and recordPosted records the
// evaluation with it. When it posts nothing, recorded is false and the
// caller records the evaluation.
func (s *Service) publish(ctx context.Context, c conclusion) (pub *PublishedStatus, recorded bool, err error) {
	key, ev, rec := c.key, c.ev, c.rec
	sha := ev.HeadSHA()
	if sha == "" {
		return nil, false, nil // nothing to attach a status to yet
	}
	if !s.posts(ev) {
		return nil, false, nil // closed, or never gated: the status is the open ones' business
	}
	unlock := s.locks.lock(key.Owner + "/" + key.Repo + "@" + sha)
	defer unlock()
	// The lock serialises this process's posts on the commit; the lease,
	// every replica's.
	cl, err := s.leaseCommit(ctx, key, sha)
	if err != nil {
		return nil, false, err
	}
	defer cl.end(ctx)
	peers, err := s.peers(ctx, key, sha)
	if err != nil {
		return nil, false, err
	}
	st, err := s.shared(ctx, key, ev, rec, peers)
	if err != nil {
		return nil, false, err
	}
	dry := s.o.Publisher.DryRun()
	if s.o.Checklist != nil && !dry {
		// A replica that lost the pull request posts nothing, here either.
		if err := s.fenced(ctx, "checklist"); err != nil {
			return nil, false, err
		}
		// Best effort, and deduplicated by the Checklister itself: its
		// summary may change while the status stays the same.
		cctx, cancel := context.WithTimeout(ctx, s.o.PublishTimeout)
		err := s.o.Checklist.Checklist(cctx, key, sha, st, rec.Decision)
		cancel()
		if err != nil {
			s.log.WarnContext(ctx, "checklist check run not posted", "pr", key.String(), "sha", sha, "err", err)
		}
	}
	all := append([]*Evidence{ev}, peers...)
	last := newestPublished(sha, all...)

	// Someone else's status is the newest on the commit: correct it once.
	var other *Check
	if c := s.newestStatus(ev, sha); c != nil && !s.ours(c.Creator, all...) &&
		(c.Creator != "" || (last != nil && (c.State != string(last.State) || c.Description != last.Description))) {
		other = c
	}
	correcting := other != nil && (last == nil || last.Replaced != ForeignStatusID(*other))
	if last != nil && !correcting && last.State == st.State && last.Description == st.Description &&
		last.TargetURL == st.TargetURL && last.DryRun == dry {
		return nil, false, nil
	}
	now := s.o.Clock.Now()
	corrections := 0
	if last != nil && other != nil {
		corrections = last.Corrections
	}
	if correcting {
		if corrections > 0 && now.Sub(last.At) < correctionPause(corrections) {
			s.log.WarnContext(ctx, "someone else keeps posting in the gatekeeper's context; correcting it later",
				"pr", key.String(), "sha", sha, "creator", other.Creator, "corrections", corrections)
			if err := s.record(ctx, c, Settlement{Apply: c.gathered}); err != nil {
				return nil, true, err
			}
			return nil, true, fmt.Errorf("correcting %s's status on %s again: %w", other.Creator, sha, errRetry)
		}
		corrections++
		s.log.WarnContext(ctx, "correcting someone else's status in the gatekeeper's context",
			"pr", key.String(), "sha", sha, "creator", other.Creator, "state", other.State)
	}
	pub = &PublishedStatus{SHA: sha, State: st.State, Description: st.Description, TargetURL: st.TargetURL,
		DryRun: dry, At: now, Creator: s.o.Publisher.Login(), Corrections: corrections}
	if other != nil {
		pub.Replaced = ForeignStatusID(*other)
	}

	// An earlier attempt recorded this very post as about to be sent and
	// never recorded its outcome: it may have landed. GitHub is asked
	// before it is posted twice.
	landed, err := s.landed(ctx, key, ev, sha, st)
	if err != nil {
		// GitHub cannot tell: post it again rather than not at all (a
		// second identical status changes nothing on the commit).
		s.log.WarnContext(ctx, "reading back a status whose outcome was not recorded; posting it again", "pr", key.String(), "sha", sha, "err", err)
	}
	// The outbox: the status about to be sent is recorded first, with
	// the decision and what the sources gathered. A dry run sends
	// nothing, so no post's outcome can be lost (landed never trusts a
	// dry-run entry): on a store that writes a settlement at once, the
	// evaluation is recorded with the status, after it, in one write
	// (recordPosted).
	outbox := !dry || !s.settles()
	if outbox {
		gathered := c.gathered
		if err := s.record(ctx, c, Settlement{Apply: func(cur *Evidence) {
			if gathered != nil {
				gathered(cur)
			}
			p := *pub
			cur.Posting = &p
		}}); err != nil {
			return nil, true, err
		}
	}

	if !landed {
		// A replica paused since it read the evidence must not post over
		// a newer holder's status.
		if err := s.fenced(ctx, "publish"); err != nil {
			return nil, outbox, err
		}
		if err := cl.fence(ctx); err != nil {
			return nil, outbox, err
		}
		// A deadline fitted to one small post (with its retries): past
		// it the post failed, and the pull request is tried again after
		// its backoff.
		pctx, cancel := context.WithTimeout(ctx, s.o.PublishTimeout)
		err = s.o.Publisher.Publish(pctx, key, sha, st)
		cancel()
		if !dry { // a dry run posts nothing to count
			s.o.Observer.Published(st.State, err)
			if lo, ok := s.o.Observer.(LagObserver); ok && err == nil {
				if at := newestArrival(ev); !at.IsZero() {
					lo.StatusLag(max(s.o.Clock.Now().Sub(at), 0))
				}
			}
		}
		if err != nil {
			return nil, outbox, fmt.Errorf("publishing status for %s@%s: %w", key, sha, err)
		}
		if login := s.o.Publisher.Login(); login != "" {
			pub.Creator = login
		}
	} else {
		s.log.InfoContext(ctx, "status already on GitHub from an attempt whose outcome was not recorded; not posting it twice",
			"pr", key.String(), "sha", sha, "state", st.State)
	}
	if !landed {
		// Only the attempt that posted tells #production: a retry after
		// the store failed to record the post does not say it again.
		s.notify(ctx, ev, rec, st)
	}
	return pub, outbox, nil
}

// recordPosted records, after the post, the status posted and takes the
// pull request off the queue unless its evidence was incomplete. When it
// fails, GitHub has the status and the store does not know yet: the
// outbox entry stays, and the next attempt does not post it again.
//
// A store that is briefly away (Redis restarting) is asked again for a few
// seconds first, so that a publisher that cannot read statuses back (a
// dry run, a test's) does not post the same status twice either.
//
// withEvaluation (a dry run's post, publish kept no outbox) records the
// evaluation in the same write: what the sources gathered and the decision,
// right after checking the lease (before each attempt), as record does. It
// is only asked of a Settler, whose write is all or nothing, so that asking
// again never applies half of it twice.
func (s *Service) recordPosted(ctx context.Context, c conclusion, pub *PublishedStatus, withEvaluation bool) error {
	st := Settlement{Apply: func(cur *Evidence) {
		cur.Published, cur.Posting = pub, nil
	}, Dequeue: !c.incomplete, Generation: c.gen}
	if withEvaluation {
		gathered := c.gathered
		st.Apply = func(cur *Evidence) {
			if gathered != nil {
				gathered(cur)
			}
			cur.Published, cur.Posting = pub, nil
		}
		if c.keep {
			st.Decision = &c.rec
		}
	}
	wait := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		if withEvaluation {
			// Before every attempt: a replica that lost its lease while
			// the store was away must not record on the retry.
			if err := s.fenced(ctx, "record"); err != nil {
				return err
			}
		}
		_, _, err := s.settle(ctx, c.key, st)
		if err == nil {
			if withEvaluation && c.keep && s.o.Decided != nil {
				s.o.Decided(c.rec)
			}
			return nil
		}
		if errors.Is(err, ErrNotFound) || attempt == 8 || !sleepCtx(ctx, wait) {
			return fmt.Errorf("recording the status posted for %s@%s: %w", c.key, pub.SHA, err)
		}
		wait = min(2*wait, time.Second)
	}
}

// sleepCtx waits d, and reports false when ctx ended first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// StatusChecker is a Publisher that can read back the newest status in a
// context on a commit (githubapi's Publisher). It is asked only after a
// post whose outcome was never recorded.
type StatusChecker interface {
	// Newest returns the newest status in context on sha of key's
	// repository and the login that created it; ok is false when there
	// is none.
	Newest(ctx context.Context, key PullKey, sha, context string) (st Status, creator string, ok bool, err error)
}

// landed reports whether st, which an earlier attempt recorded as about to
// be posted on sha without recording its outcome, is already the newest
// status of the gatekeeper's on GitHub: then it is not posted again.
func (s *Service) landed(ctx context.Context, key PullKey, ev *Evidence, sha string, st Status) (bool, error) {
	p := ev.Posting
	if p == nil || p.SHA != sha || p.State != st.State || p.Description != st.Description || p.TargetURL != st.TargetURL || p.DryRun {
		return false, nil
	}
	if c := s.newestStatus(ev, sha); c != nil && s.ours(c.Creator, ev) && c.State == string(st.State) && c.Description == st.Description {
		return true, nil // the gatekeeper's own post came back as evidence
	}
	sc, ok := s.o.Publisher.(StatusChecker)
	if !ok {
		return false, nil
	}
	cctx, cancel := context.WithTimeout(ctx, s.o.PublishTimeout)
	defer cancel()
	got, creator, found, err := sc.Newest(cctx, key, sha, st.Context)
	if err != nil {
		return false, fmt.Errorf("reading back the status of %s@%s from GitHub: %w", key, sha, err)
	}
	// Ours: the Publisher's login, a creator recorded on the pull
	// request, or the login this gatekeeper had when it recorded the post
	// (a process started since may not know its token's login yet).
	mine := s.ours(creator, ev) || (p.Creator != "" && strings.EqualFold(p.Creator, creator))
	return found && mine && got.State == st.State && got.Description == st.Description &&
		got.TargetURL == st.TargetURL, nil
}

// newestArrival is when the newest delivery in ev's log was accepted (zero
// when none is there): what a status posted now is the answer to.
func newestArrival(ev *Evidence) time.Time {
	var at time.Time
	for _, l := range ev.Log {
		if l.Delivery != "" && l.At.After(at) {
			at = l.At
		}
	}
	return at
}

// release re-queues the open pull requests that share the head this pull
// request last posted on, when it no longer takes part in that head's
// status (closed, retargeted, or moved to another head): their status must
// stop naming it. It is best effort; the reconcile timer catches the rest.
func (s *Service) release(ctx context.Context, key PullKey, ev *Evidence) {
	p := ev.Published
	if p == nil || (p.SHA == ev.HeadSHA() && s.posts(ev)) {
		return
	}
	peers, err := s.peers(ctx, key, p.SHA)
	if err != nil {
		s.log.WarnContext(ctx, "finding the pull requests that shared a head", "pr", key.String(), "sha", p.SHA, "err", err)
		return
	}
	for _, o := range peers {
		if o.PR != nil && o.PR.State == "open" && o.HeadSHA() == p.SHA {
			if err := s.Enqueue(ctx, o.Key); err != nil {
				s.log.WarnContext(ctx, "re-queueing a pull request that shared a head", "pr", o.Key.String(), "err", err)
			}
		}
	}
}

// keyedLocks is a set of mutexes by name, each kept while in use.
type keyedLocks struct {
	mu sync.Mutex
	m  map[string]*keyedLock
}

type keyedLock struct {
	sync.Mutex
	users int
}

// lock takes the mutex called name and returns its release.
func (l *keyedLocks) lock(name string) func() {
	l.mu.Lock()
	if l.m == nil {
		l.m = map[string]*keyedLock{}
	}
	k := l.m[name]
	if k == nil {
		k = &keyedLock{}
		l.m[name] = k
	}
	k.users++
	l.mu.Unlock()
	k.Lock()
	return func() {
		k.Unlock()
		l.mu.Lock()
		if k.users--; k.users == 0 {
			delete(l.m, name)
		}
		l.mu.Unlock()
	}
}
