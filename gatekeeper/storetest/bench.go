package storetest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// ReleaseEvents are the events of a busy release pull request: three head
// pushes, six reviews, forty comments, thirty checks per head and enough
// events to fill the evidence log. Its evidence is about the size a real
// release pull request reaches by the end of the day. The stores'
// benchmarks share it, so that their figures compare.
func ReleaseEvents(key gatekeeper.PullKey, start time.Time) []gatekeeper.Event {
	var out []gatekeeper.Event
	at := start
	next := func() time.Time { at = at.Add(time.Second); return at }
	for h := range 3 {
		sha := fmt.Sprintf("%040x", h+1)
		out = append(out, gatekeeper.Event{
			Name: "pull_request.synchronize", Received: next(), Key: key, SHA: sha,
			PullRequest: &gatekeeper.PullRequest{
				Key: key, RepoID: 123456, Title: "Release 2026-03-02",
				Body:   strings.Repeat("- change\n", 60),
				Author: "release-bot", State: "open", HeadRef: "staging", HeadSHA: sha,
				BaseRef: "master", BaseSHA: fmt.Sprintf("%040x", 99),
				Labels: []string{"release", "alpha"}, HTMLURL: "https://github.com/acme/shop/pull/1",
				UpdatedAt: at,
			},
		})
		for c := range 30 {
			out = append(out, gatekeeper.Event{
				Name: "status", Received: next(), Key: key, SHA: sha,
				Check: &gatekeeper.Check{
					Name: fmt.Sprintf("ci/jenkins/stage-%02d", c), SHA: sha, Kind: "status",
					State: "success", Description: "Build #1234 succeeded in 4m 12s",
					URL: "https://jenkins.example/job/shop/1234/", UpdatedAt: at,
				},
			})
		}
	}
	for r := range 6 {
		out = append(out, gatekeeper.Event{
			Name: "pull_request_review.submitted", Received: next(), Key: key,
			Review: &gatekeeper.Review{
				ID: int64(r + 1), User: fmt.Sprintf("manager%d", r), State: "approved",
				CommitID: fmt.Sprintf("%040x", 3), SubmittedAt: at, AuthorAssociation: "MEMBER",
			},
		})
	}
	for c := range 40 {
		out = append(out, gatekeeper.Event{
			Name: "issue_comment.created", Received: next(), Key: key,
			Comment: &gatekeeper.Comment{
				ID: int64(c + 1), User: "qa", Body: strings.Repeat("looks good on beta. ", 15),
				CreatedAt: at, UpdatedAt: at,
			},
		})
	}
	for len(out) < 220 {
		out = append(out, gatekeeper.Event{Name: "check_run.completed", Received: next(), Key: key, SHA: fmt.Sprintf("%040x", 3)})
	}
	return out
}

// EvaluationWrites benchmarks what one evaluation writes on the pull
// request key (whose evidence s holds): what the sources gathered, a
// changed decision record and the dequeue, as three writes (Update,
// AddDecision, Done: how the Service wrote them before Settle) and as one
// Settle when s is a gatekeeper.Settler. Each iteration also queues key
// again (one Enqueue, the same in both), so that there is something to
// dequeue. The stores' benchmarks share it, so that their figures compare.
func EvaluationWrites(b *testing.B, s gatekeeper.Store, key gatekeeper.PullKey, at time.Time) {
	ctx := context.Background()
	gathered := func(ev *gatekeeper.Evidence) {
		if ev.Sources == nil {
			ev.Sources = map[string]gatekeeper.SourceStatus{}
		}
		ev.Sources["github"] = gatekeeper.SourceStatus{OK: true, CheckedAt: at}
	}
	rec := gatekeeper.DecisionRecord{Key: key, HeadSHA: "abc", Description: "Waiting for: a build",
		Decision: gatekeeper.Decision{State: gatekeeper.Pending, Waiting: []string{"a build"}}, EvaluatedAt: at, Duration: time.Millisecond}
	writes := []struct {
		name  string
		write func(b *testing.B, gen uint64)
	}{
		{"three-writes", func(b *testing.B, gen uint64) {
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
	}
	if st, ok := s.(gatekeeper.Settler); ok {
		writes = append(writes, struct {
			name  string
			write func(b *testing.B, gen uint64)
		}{"one-settle", func(b *testing.B, gen uint64) {
			if _, _, err := st.Settle(ctx, key, gatekeeper.Settlement{Apply: gathered, Decision: &rec, Dequeue: true, Generation: gen}); err != nil {
				b.Fatal(err)
			}
		}})
	}
	for _, w := range writes {
		b.Run(w.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := s.Enqueue(ctx, key); err != nil {
					b.Fatal(err)
				}
				gen, _, err := s.Generation(ctx, key)
				if err != nil {
					b.Fatal(err)
				}
				w.write(b, gen)
			}
		})
	}
}
