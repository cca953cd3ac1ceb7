package gatekeeper

import (
	"slices"
	"strings"
	"sync"
	"time"
)

// Publishing apart from evaluating. A worker gathers, decides and records;
// what talks to GitHub about the decision (the commit status, the
// checklist run, the answers to votes, the Slack notification) is handed
// to the post queue, and the worker goes on with the next pull request. A
// GitHub that hangs on one repository's (or one organisation's) posts then
// holds only that repository's posts, never a worker nor another
// repository's status:
//
//   - at most PostsPerRepo posts run at once per repository, and
//     PostsPerOwner per owner (a GitHub App installation is an owner's:
//     it bounds the connections a hung installation holds, and is large
//     enough that one organisation's hung repository, or several, leave
//     room for its other repositories); the others wait in line, first
//     come first served, each behind its own targets only;
//   - each post has a deadline fitted to it (PublishTimeout), after which
//     the pull request stays queued and is tried again with the usual
//     backoff, as any failed post;
//   - the pull request stays "running" for the scheduler and keeps its
//     lease (renewed) until its post ends: it is never evaluated twice at
//     once, and the fencing token is still checked right before the post;
//   - a post gives its slots back (free) once it has nothing left to say
//     to GitHub, before it records the outcome in the store: the bounds
//     are on connections to GitHub, and the store's writes, which the
//     Store commits in groups, are not held to two per repository.
//
// The durable promise is unchanged: a pull request leaves the Store's queue
// only after its status was posted and recorded.

// Defaults of Options.PostsPerRepo, PostsPerOwner and PublishTimeout.
const (
	DefaultPostsPerRepo   = 2
	DefaultPostsPerOwner  = 32
	DefaultPublishTimeout = 30 * time.Second
)

// postQueue runs post jobs under per-repository and per-owner bounds.
type postQueue struct {
	perRepo, perOwner int

	mu       sync.Mutex
	inFlight map[string]int // by postTarget keys
	waiting  []*postJob     // oldest first
	// running holds the job started for each pull request whose slots
	// are still taken (the scheduler runs one job per pull request at a
	// time), so that free can give them back early.
	running map[PullKey]*postJob
}

// postJob is one evaluation's posts, for one repository.
type postJob struct {
	key         PullKey
	repo, owner string // lower-cased target keys
	run         func()
	freed       bool // its slots were given back; q.mu guards it
}

func newPostQueue(perRepo, perOwner int) *postQueue {
	return &postQueue{perRepo: perRepo, perOwner: perOwner, inFlight: map[string]int{}, running: map[PullKey]*postJob{}}
}

// submit runs run in its own goroutine as soon as key's repository and
// owner have room. It never blocks.
func (q *postQueue) submit(key PullKey, run func()) {
	owner := "owner:" + strings.ToLower(key.Owner)
	j := &postJob{key: key, repo: "repo:" + strings.ToLower(key.Owner+"/"+key.Repo), owner: owner, run: run}
	q.mu.Lock()
	if !q.room(j) {
		q.waiting = append(q.waiting, j)
		q.mu.Unlock()
		return
	}
	q.take(j)
	q.mu.Unlock()
	go q.runJob(j)
}

// room reports whether j's targets have a free slot. q.mu is held.
func (q *postQueue) room(j *postJob) bool {
	return q.inFlight[j.repo] < q.perRepo && q.inFlight[j.owner] < q.perOwner
}

// take counts j in flight. q.mu is held.
func (q *postQueue) take(j *postJob) {
	q.inFlight[j.repo]++
	q.inFlight[j.owner]++
	q.running[j.key] = j
}

func (q *postQueue) runJob(j *postJob) {
	defer q.finish(j)
	j.run()
}

// free gives back the slots of the job running for key, before it ends:
// what it does from now on (record in the store) talks to no GitHub. The
// job still ends as before (the scheduler's end, the lease). Freeing
// twice, or a key without a running job (a post not run by the queue, or
// no queue), does nothing.
func (q *postQueue) free(key PullKey) {
	if q == nil {
		return
	}
	q.mu.Lock()
	j := q.running[key]
	if j == nil {
		q.mu.Unlock()
		return
	}
	start := q.release(j)
	q.mu.Unlock()
	if start != nil {
		go q.runJob(start)
	}
}

// finish frees j's slots and starts the oldest waiting job that now has
// room. At most one can: a waiting job had no room (submit and finish keep
// it so), and what finish frees is one slot of j's repository and one of
// j's owner. A job that can start now needs a slot of j's owner (the
// repository's owner too), so it is one of j's owner's jobs; when that
// owner was full, it gained one slot, taken by the first job that starts;
// when it was not, none of its jobs waited for it, and only j's repository
// gained, one slot. So the scan stops at the first job with room: a
// thousand posts waiting for one repository cost one look each, not a
// thousand.
func (q *postQueue) finish(j *postJob) {
	q.mu.Lock()
	start := q.release(j)
	q.mu.Unlock()
	if start != nil {
		go q.runJob(start)
	}
}

// release frees j's slots, once, and takes the job that may start in
// them (see finish). q.mu is held.
func (q *postQueue) release(j *postJob) *postJob {
	if j.freed {
		return nil
	}
	j.freed = true
	if q.running[j.key] == j {
		delete(q.running, j.key)
	}
	for _, t := range []string{j.repo, j.owner} {
		if q.inFlight[t]--; q.inFlight[t] <= 0 {
			delete(q.inFlight, t)
		}
	}
	var start *postJob
	for i, w := range q.waiting {
		if w.owner == j.owner && q.room(w) {
			q.take(w)
			start = w
			q.waiting = slices.Delete(q.waiting, i, i+1)
			break
		}
	}
	return start
}

// waitingCount is how many jobs wait for room (tests, metrics).
func (q *postQueue) waitingCount() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.waiting)
}
