package githubapi

import (
	"container/list"
	"errors"
	"sync"
)

// ErrStatusCap is wrapped by the error of a status the Publisher refused to
// post because it already posted Budget.MaxStatusesPerContext statuses on
// that commit in that context: GitHub keeps 1,000 per commit and context
// and refuses any beyond them, and a gatekeeper that reached the cap is
// flapping (two replicas or two installations disagreeing, a status war):
// a person must look.
var ErrStatusCap = errors.New("too many statuses on one commit and context")

// postCounts counts the statuses posted per repository, commit and context,
// for the most recent maxCommits of them. It is safe for concurrent use.
type postCounts struct {
	mu    sync.Mutex
	max   int
	lru   *list.List // of *postCount, most recent first
	byKey map[string]*list.Element
}

type postCount struct {
	key string
	n   int
}

// maxCountedCommits bounds postCounts: a commit is gated for hours, and
// thousands of open pull requests fit.
const maxCountedCommits = 50000

func newPostCounts(max int) *postCounts {
	return &postCounts{max: max, lru: list.New(), byKey: map[string]*list.Element{}}
}

// reserve counts one more post under key and reports whether it stays
// within the cap; a refused post is not counted. release undoes a
// reservation whose post failed (GitHub kept nothing).
func (c *postCounts) reserve(key string) (n int, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, found := c.byKey[key]
	if !found {
		el = c.lru.PushFront(&postCount{key: key})
		c.byKey[key] = el
		for c.lru.Len() > maxCountedCommits {
			old := c.lru.Back()
			c.lru.Remove(old)
			delete(c.byKey, old.Value.(*postCount).key)
		}
	}
	c.lru.MoveToFront(el)
	pc := el.Value.(*postCount)
	if pc.n >= c.max {
		return pc.n, false
	}
	pc.n++
	return pc.n, true
}

func (c *postCounts) release(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.byKey[key]; ok && el.Value.(*postCount).n > 0 {
		el.Value.(*postCount).n--
	}
}
