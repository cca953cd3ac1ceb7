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
//     once, and the fencing token is still checked right before the post.
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
}

// postJob is one evaluation's posts, for one repository.
type postJob struct {
	repo, owner string // lower-cased target keys
	run         func()
}

func newPostQueue(perRepo, perOwner int) *postQueue {
	return &postQueue{perRepo: perRepo, perOwner: perOwner, inFlight: map[string]int{}}
}

// submit runs run in its own goroutine as soon as key's repository and
// owner have room. It never blocks.
func (q *postQueue) submit(key PullKey, run func()) {
	owner := "owner:" + strings.ToLower(key.Owner)
	j := &postJob{repo: "repo:" + strings.ToLower(key.Owner+"/"+key.Repo), owner: owner, run: run}
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
}

func (q *postQueue) runJob(j *postJob) {
	defer q.finish(j)
	j.run()
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
	q.mu.Unlock()
	if start != nil {
		go q.runJob(start)
	}
}

// waitingCount is how many jobs wait for room (tests, metrics).
func (q *postQueue) waitingCount() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.waiting)
}
