package gatekeeper

import (
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestPostQueueBoundsPerTarget: posts to a repository beyond its share
// wait, and so do posts to an owner beyond its share, while other
// targets' posts start at once; a finished post lets the oldest waiting
// one of its target in.
func TestPostQueueBoundsPerTarget(t *testing.T) {
	t.Parallel()
	q := newPostQueue(2, 3)
	var mu sync.Mutex
	var started []string
	hold := map[string]chan struct{}{}
	var wg sync.WaitGroup
	submit := func(owner, repo string, n int) {
		name := owner + "/" + repo + "#" + string(rune('0'+n))
		ch := make(chan struct{})
		mu.Lock()
		hold[name] = ch
		mu.Unlock()
		wg.Add(1)
		q.submit(PullKey{Owner: owner, Repo: repo, Number: n}, func() {
			defer wg.Done()
			mu.Lock()
			started = append(started, name)
			mu.Unlock()
			<-ch
		})
	}
	submit("hung", "a", 1)
	submit("hung", "a", 2)
	submit("hung", "a", 3) // waits: two posts to hung/a in flight
	submit("hung", "b", 1) // the owner's third
	submit("hung", "c", 1) // waits: three posts of hung in flight
	submit("other", "x", 1)
	if got := q.waitingCount(); got != 2 {
		t.Fatalf("%d posts wait, want 2 (hung/a#3 and hung/c#1)", got)
	}
	release := func(name string) {
		mu.Lock()
		ch := hold[name]
		mu.Unlock()
		close(ch)
	}
	release("hung/a#1")
	// hung/a#3 is next for hung/a, and takes the owner's freed slot
	// before hung/c#1, which came later.
	for q.waitingCount() != 1 {
		runtime.Gosched() // the finishing goroutine starts it
	}
	q.mu.Lock()
	inA, inHung := q.inFlight["repo:hung/a"], q.inFlight["owner:hung"]
	q.mu.Unlock()
	if inA != 2 || inHung != 3 {
		t.Errorf("in flight: hung/a %d, hung %d; want 2 and 3", inA, inHung)
	}
	for _, n := range []string{"hung/a#2", "hung/a#3", "hung/b#1", "other/x#1"} {
		release(n)
	}
	for q.waitingCount() != 0 {
		runtime.Gosched()
	}
	release("hung/c#1")
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(started) != 6 {
		t.Errorf("started %v, want all 6", started)
	}
}

// TestPostQueueStartsEveryJobWithRoom: whatever the order of submissions
// and of posts ending, once the queue is still no waiting job has room
// (finish starts the one job a freed slot lets in), and the jobs of one
// repository start in the order they were submitted.
func TestPostQueueStartsEveryJobWithRoom(t *testing.T) {
	t.Parallel()
	rnd := rand.New(rand.NewPCG(10, 1))
	q := newPostQueue(2, 3)
	type job struct {
		key     PullKey
		release chan struct{}
	}
	var mu sync.Mutex
	var running []*job
	startedOf := map[string][]int{} // repository → numbers, in start order
	submittedOf := map[string][]int{}
	inFlight := func() int {
		q.mu.Lock()
		defer q.mu.Unlock()
		n := 0
		for t, c := range q.inFlight {
			if strings.HasPrefix(t, "repo:") {
				n += c
			}
		}
		return n
	}
	// still waits until every job the queue counts in flight has started
	// and every finish has run.
	still := func() {
		deadline := time.Now().Add(10 * time.Second)
		for {
			mu.Lock()
			n := len(running)
			mu.Unlock()
			if inFlight() == n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("queue never settled: %d in flight, %d running", inFlight(), n)
			}
			runtime.Gosched()
		}
	}
	owners, repos := []string{"a", "b"}, []string{"x", "y", "z"}
	for n := 1; n <= 400; n++ {
		if len(running) == 0 || rnd.IntN(2) == 0 {
			j := &job{key: PullKey{Owner: owners[rnd.IntN(2)], Repo: repos[rnd.IntN(3)], Number: n}, release: make(chan struct{})}
			repo := j.key.Owner + "/" + j.key.Repo
			submittedOf[repo] = append(submittedOf[repo], n)
			q.submit(j.key, func() {
				mu.Lock()
				running = append(running, j)
				startedOf[repo] = append(startedOf[repo], j.key.Number)
				mu.Unlock()
				<-j.release
			})
		} else {
			mu.Lock()
			i := rnd.IntN(len(running))
			j := running[i]
			running = slices.Delete(running, i, i+1)
			mu.Unlock()
			close(j.release)
		}
		still()
		q.mu.Lock()
		for _, w := range q.waiting {
			if q.room(w) {
				t.Fatalf("step %d: %s waits with room", n, w.repo)
			}
		}
		q.mu.Unlock()
	}
	mu.Lock()
	for _, j := range running {
		close(j.release)
	}
	running = nil
	mu.Unlock()
	for q.waitingCount() > 0 || inFlight() > 0 {
		mu.Lock()
		for _, j := range running {
			close(j.release)
		}
		running = nil
		mu.Unlock()
		runtime.Gosched()
	}
	for repo, want := range submittedOf {
		if got := startedOf[repo]; !slices.Equal(got, want) {
			t.Errorf("%s started %v, want %v (submission order)", repo, got, want)
		}
	}
}

// TestPostQueueFreeBeforeEnd: a post that frees its slots (it has nothing
// left for GitHub, only its store write) lets the next post of its
// repository start while it still runs.
func TestPostQueueFreeBeforeEnd(t *testing.T) {
	t.Parallel()
	q := newPostQueue(1, 8)
	key := func(n int) PullKey { return PullKey{Owner: "acme", Repo: "shop", Number: n} }
	freeNow, hold1, started2 := make(chan struct{}), make(chan struct{}), make(chan struct{})
	q.submit(key(1), func() {
		<-freeNow
		q.free(key(1))
		<-hold1
	})
	q.submit(key(2), func() { close(started2) })
	if got := q.waitingCount(); got != 1 {
		t.Fatalf("%d posts wait, want 1: one slot per repository", got)
	}
	close(freeNow)
	<-started2 // while the first still runs
	close(hold1)
}

// TestPostQueueFreeOnce: a post's slots are given back once, whether it
// frees them early, twice, or not at all: its end after free must not
// free another post's slot.
func TestPostQueueFreeOnce(t *testing.T) {
	t.Parallel()
	q := newPostQueue(2, 8)
	job := func(n int) *postJob {
		return &postJob{key: PullKey{Owner: "acme", Repo: "shop", Number: n}, repo: "repo:acme/shop", owner: "owner:acme"}
	}
	j1, j2 := job(1), job(2)
	q.mu.Lock()
	q.take(j1)
	q.take(j2)
	q.mu.Unlock()
	inFlight := func(when string, want int) {
		t.Helper()
		q.mu.Lock()
		defer q.mu.Unlock()
		if got := q.inFlight["repo:acme/shop"]; got != want {
			t.Errorf("%s: %d posts in flight for acme/shop, want %d", when, got, want)
		}
	}
	q.free(j1.key)
	inFlight("after the first freed its slot", 1)
	q.free(j1.key)
	inFlight("after the first freed it again", 1)
	q.finish(j1)
	inFlight("after the first ended", 1)
	q.free(PullKey{Owner: "acme", Repo: "shop", Number: 3}) // no such post
	inFlight("after freeing a post not running", 1)
	q.finish(j2)
	inFlight("after the second ended", 0)
}
