package redisstore

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/releasegate/gatekeeper/gatekeeper"
	"github.com/releasegate/gatekeeper/gatekeeper/boltstore"
	"github.com/releasegate/gatekeeper/gatekeeper/redisstore/redistest"
)

var benchStart = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// releaseEvents are the events of a busy release pull request (as in
// boltstore's benchmarks): three head pushes, thirty checks per head, six
// reviews, forty comments, and a full evidence log; about the size a real
// release pull request's evidence reaches by the end of the day.
func releaseEvents(key gatekeeper.PullKey) []gatekeeper.Event {
	var out []gatekeeper.Event
	at := benchStart
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

// statusApply is what a Jenkins status webhook does to the evidence: it
// updates one existing check, so the evidence keeps its size.
func statusApply(key gatekeeper.PullKey, delivery string, n int64) func(*gatekeeper.Evidence) {
	sha := fmt.Sprintf("%040x", 3)
	at := benchStart.Add(time.Hour + time.Duration(n)*time.Millisecond)
	e := gatekeeper.Event{
		Delivery: delivery, Name: "status", Received: at, Key: key, SHA: sha,
		Check: &gatekeeper.Check{
			Name: fmt.Sprintf("ci/jenkins/stage-%02d", n%30), SHA: sha, Kind: "status",
			State: "success", Description: "Build #1235 succeeded", UpdatedAt: at,
		},
	}
	return func(ev *gatekeeper.Evidence) { ev.Apply(e) }
}

// seed records the busy release evidence under key.
func seed(b *testing.B, s gatekeeper.Store, key gatekeeper.PullKey) {
	b.Helper()
	events := releaseEvents(key)
	err := s.Record(context.Background(), "seed-"+key.String(), []gatekeeper.PullKey{key}, func(ev *gatekeeper.Evidence) {
		for _, e := range events {
			ev.Apply(e)
		}
	})
	if err != nil {
		b.Fatalf("seeding %s: %v", key, err)
	}
}

// BenchmarkStores compares the two stores on the acknowledgement path, in
// one run: Record of a Jenkins status about the busy release pull request,
// one at a time ("serial") and from 32 goroutines at once ("concurrent32",
// every request about that one pull request: the daily release's hot
// spot). Both are durable when Record returns: bbolt fsyncs its file,
// redis-server runs with appendonly yes and appendfsync always on the
// same disk. ns/op is the inverse of throughput; acks/s and p99-ms are the
// acknowledgements per second and the 99th percentile of one Record's
// latency.
func BenchmarkStores(b *testing.B) {
	srv := redistest.Start(b)
	stores := []struct {
		name string
		open func(b *testing.B) gatekeeper.Store
	}{
		{"bolt", func(b *testing.B) gatekeeper.Store {
			s, err := boltstore.Open(filepath.Join(b.TempDir(), "gatekeeper.db"))
			if err != nil {
				b.Fatal(err)
			}
			return s
		}},
		{"redis", func(b *testing.B) gatekeeper.Store {
			s, err := Open(context.Background(), srv.URL(0), WithPrefix(newPrefix()))
			if err != nil {
				b.Fatal(err)
			}
			return s
		}},
	}
	key := gatekeeper.PullKey{Owner: "acme", Repo: "shop", Number: 1}
	for _, st := range stores {
		for _, par := range []int{1, 32} {
			name := "serial"
			if par > 1 {
				name = fmt.Sprintf("concurrent%d", par)
			}
			b.Run("store="+st.name+"/"+name, func(b *testing.B) {
				s := st.open(b)
				defer s.Close()
				seed(b, s, key)
				if ev, err := s.Evidence(context.Background(), key); err == nil {
					data, _ := json.Marshal(ev)
					b.Logf("evidence: %d bytes JSON", len(data))
				}
				runRecords(b, s, key, par)
			})
		}
	}
}

// runRecords runs b.N Records from par goroutines and reports throughput
// and the p99 latency.
func runRecords(b *testing.B, s gatekeeper.Store, key gatekeeper.PullKey, par int) {
	ctx := context.Background()
	var n atomic.Int64
	lat := make([][]time.Duration, par)
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for g := range par {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := n.Add(1)
				if i > int64(b.N) {
					return
				}
				d := fmt.Sprintf("bench-%d", i)
				t0 := time.Now()
				if err := s.Record(ctx, d, []gatekeeper.PullKey{key}, statusApply(key, d, i)); err != nil {
					b.Errorf("Record: %v", err)
					return
				}
				lat[g] = append(lat[g], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	if len(all) == 0 {
		return
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	p99 := all[(len(all)*99)/100]
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "acks/s")
	b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
}
