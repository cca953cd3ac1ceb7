package boltstore

import (
	"context"
	"testing"
	"time"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// BenchmarkEvaluationWrites measures what one evaluation writes on a busy
// release pull request (its gathered sources, a changed decision, the
// dequeue): as three transactions (Update, AddDecision, Done), as the
// Service wrote them before, and as one Settle. Each iteration also
// queues the pull request again (one Enqueue, the same in both).
func BenchmarkEvaluationWrites(b *testing.B) {
	key := gatekeeper.PullKey{Owner: "acme", Repo: "shop", Number: 1}
	ctx := context.Background()
	gathered := func(ev *gatekeeper.Evidence) {
		if ev.Sources == nil {
			ev.Sources = map[string]gatekeeper.SourceStatus{}
		}
		ev.Sources["github"] = gatekeeper.SourceStatus{OK: true, CheckedAt: benchStart}
	}
	rec := gatekeeper.DecisionRecord{Key: key, HeadSHA: "abc", Description: "Waiting for: a build",
		Decision: gatekeeper.Decision{State: gatekeeper.Pending, Waiting: []string{"a build"}}, EvaluatedAt: benchStart, Duration: time.Millisecond}
	for _, tt := range []struct {
		name  string
		write func(b *testing.B, s *Store, gen uint64)
	}{
		{"three-writes", func(b *testing.B, s *Store, gen uint64) {
			if _, err := s.Update(ctx, key, gathered); err != nil {
				b.Fatal(err)
			}
			if err := s.AddDecision(ctx, rec); err != nil {
				b.Fatal(err)
			}
			if _, err := s.Done(ctx, key, gen); err != nil {
				b.Fatal(err)
			}
		}},
		{"one-settle", func(b *testing.B, s *Store, gen uint64) {
			if _, _, err := s.Settle(ctx, key, gatekeeper.Settlement{Apply: gathered, Decision: &rec, Dequeue: true, Generation: gen}); err != nil {
				b.Fatal(err)
			}
		}},
	} {
		b.Run(tt.name, func(b *testing.B) {
			s := openBench(b, []gatekeeper.PullKey{key})
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if err := s.Enqueue(ctx, key); err != nil {
					b.Fatal(err)
				}
				gen, _, err := s.Generation(ctx, key)
				if err != nil {
					b.Fatal(err)
				}
				tt.write(b, s, gen)
			}
		})
	}
}
