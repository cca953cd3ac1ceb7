package redisstore

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/releasegate/gatekeeper/gatekeeper"
	"github.com/releasegate/gatekeeper/gatekeeper/redisstore/redistest"
)

// cutProxy forwards loopback TCP to a redis-server, and can be told to cut
// the connection that carries the n-th reply from now on, after the server
// has acted on the command but before the client reads the answer: a reply
// lost on the way.
type cutProxy struct {
	ln     net.Listener
	target string
	cutAt  atomic.Int64 // replies to let through before the cut; <0: none
	wg     sync.WaitGroup
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target}
	p.cutAt.Store(-1)
	go p.serve()
	t.Cleanup(func() { ln.Close(); p.wg.Wait() })
	return p
}

func (p *cutProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.wg.Add(2)
		go func() { defer p.wg.Done(); io.Copy(s, c); s.Close() }()
		go func() {
			defer p.wg.Done()
			defer c.Close()
			defer s.Close()
			buf := make([]byte, 64<<10)
			for {
				n, err := s.Read(buf)
				if n > 0 {
					// Each read of a reply counts as one: the store's
					// commands here are sent one at a time.
					if left := p.cutAt.Load(); left >= 0 {
						if left == 0 {
							p.cutAt.Store(-1)
							return // the reply is dropped and the connection cut
						}
						p.cutAt.Add(-1)
					}
					if _, werr := c.Write(buf[:n]); werr != nil {
						return
					}
				}
				if err != nil {
					return
				}
			}
		}()
	}
}

// TestLostReplyNotAppliedTwice: when the reply to a commit is lost, the
// store finds out from the server whether its write was made instead of
// writing again: the Record succeeds, it is applied once, and the sender's
// retry is a duplicate.
func TestLostReplyNotAppliedTwice(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	proxy := newCutProxy(t, srv.Addr)
	s, err := Open(context.Background(), "redis://"+proxy.ln.Addr().String()+"/0", WithPrefix(newPrefix()))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	// Warm up: the scripts are loaded, and the evidence is cached.
	if err := s.Record(ctx, "d-1", []gatekeeper.PullKey{keyA}, logged("d-1")); err != nil {
		t.Fatalf("Record(d-1): %v", err)
	}
	// A Record is one read (reply 0) and one commit (reply 1): cut the
	// commit's reply.
	proxy.cutAt.Store(1)
	if err := s.Record(ctx, "d-2", []gatekeeper.PullKey{keyA}, logged("d-2")); err != nil {
		t.Fatalf("Record(d-2) whose reply was lost: %v", err)
	}
	if proxy.cutAt.Load() != -1 {
		t.Fatal("the proxy cut nothing: the test did not test")
	}
	if err := s.Record(ctx, "d-2", []gatekeeper.PullKey{keyA}, logged("d-2")); !errors.Is(err, gatekeeper.ErrDuplicate) {
		t.Errorf("Record(d-2) again: err = %v, want ErrDuplicate", err)
	}
	if diff := cmp.Diff(map[string]int{"d-1": 1, "d-2": 1}, logCounts(t, s, keyA)); diff != "" {
		t.Errorf("applied (-want +got):\n%s", diff)
	}

	// An Update (no delivery id to dedupe by) whose reply is lost is not
	// applied twice either.
	proxy.cutAt.Store(1)
	if _, err := s.Update(ctx, keyA, logged("u-1")); err != nil {
		t.Fatalf("Update whose reply was lost: %v", err)
	}
	if diff := cmp.Diff(map[string]int{"d-1": 1, "d-2": 1, "u-1": 1}, logCounts(t, s, keyA)); diff != "" {
		t.Errorf("applied (-want +got):\n%s", diff)
	}
}

// TestLostReplyWithReplicas: with WAIT asked for, a commit whose reply was
// lost is made (its receipt says so) but not known to be on the replicas:
// it is no promise, so the Record fails with ErrReplicas, and the sender's
// retry is a duplicate.
func TestLostReplyWithReplicas(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	proxy := newCutProxy(t, srv.Addr)
	s, err := Open(context.Background(), "redis://"+proxy.ln.Addr().String()+"/0",
		WithPrefix(newPrefix()), WithWaitReplicas(1, 20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	// Warm up: the scripts are loaded (no replica: ErrReplicas).
	if err := s.Record(ctx, "d-1", []gatekeeper.PullKey{keyA}, logged("d-1")); !errors.Is(err, ErrReplicas) {
		t.Fatalf("Record(d-1): %v, want ErrReplicas", err)
	}
	// The read (reply 0), then the commit (reply 1) and WAIT: cut the
	// commit's reply.
	proxy.cutAt.Store(1)
	err = s.Record(ctx, "d-2", []gatekeeper.PullKey{keyA}, logged("d-2"))
	if proxy.cutAt.Load() != -1 {
		t.Fatal("the proxy cut nothing: the test did not test")
	}
	if !errors.Is(err, ErrReplicas) {
		t.Errorf("Record(d-2) whose reply was lost: err = %v, want ErrReplicas", err)
	}
	if err := s.Record(ctx, "d-2", []gatekeeper.PullKey{keyA}, logged("d-2")); !errors.Is(err, gatekeeper.ErrDuplicate) {
		t.Errorf("Record(d-2) again: err = %v, want ErrDuplicate", err)
	}
}
