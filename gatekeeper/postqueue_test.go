package gatekeeper

import (
	"runtime"
	"sync"
	"testing"
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
