package redisstore

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/releasegate/gatekeeper/gatekeeper"
	"github.com/releasegate/gatekeeper/gatekeeper/boltstore"
	"github.com/releasegate/gatekeeper/gatekeeper/redisstore/redistest"
	"github.com/releasegate/gatekeeper/gatekeeper/storetest"
)

var benchStart = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

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
	events := storetest.ReleaseEvents(key, benchStart)
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
	stores := benchStores(redistest.Start(b))
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
					b.Logf("evidence: %d bytes JSON, %d log entries", len(data), len(ev.Log))
				}
				runRecords(b, s, key, par)
			})
		}
	}
}

// benchStore opens one kind of store for a benchmark.
type benchStore struct {
	name string
	open func(b *testing.B) gatekeeper.Store
}

// benchStores are bbolt in a temporary file and Redis on srv under a new
// prefix, so that one run compares them.
func benchStores(srv *redistest.Server) []benchStore {
	return []benchStore{
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
}

// BenchmarkStoresPushRouting measures what a push to a gated base costs the
// webhook path with 1,000 tracked pull requests (50 repositories of 20,
// each with the busy release evidence): finding the open pull requests of
// the pushed repository into the pushed base, as Service.routeTip does.
// "scan" is the way before the index (list every pull request, load each
// one's evidence, keep the matches); "index" looks up the repository's
// and base's index terms and loads only those. Both find the same 20.
func BenchmarkStoresPushRouting(b *testing.B) {
	const repos, perRepo = 50, 20
	ctx := context.Background()
	for _, st := range benchStores(redistest.Start(b)) {
		b.Run("store="+st.name, func(b *testing.B) {
			s := st.open(b)
			defer s.Close()
			for r := range repos {
				for n := range perRepo {
					key := gatekeeper.PullKey{Owner: "acme", Repo: fmt.Sprintf("svc%02d", r), Number: n + 1}
					events := storetest.ReleaseEvents(key, benchStart)
					err := s.Record(ctx, "seed-"+key.String(), []gatekeeper.PullKey{key}, func(ev *gatekeeper.Evidence) {
						for _, e := range events {
							ev.Apply(e)
						}
						ev.PR.RepoID = int64(1000 + r)
					})
					if err != nil {
						b.Fatalf("seeding %s: %v", key, err)
					}
				}
			}
			pushed := gatekeeper.Repo{ID: 1000 + 7, Owner: "acme", Name: "svc07"}
			match := func(ev *gatekeeper.Evidence) bool {
				pr := ev.PR
				return pr != nil && pr.State == "open" && pr.BaseRef == "master" && pr.SameRepo(pushed.ID, pushed.Owner, pushed.Name)
			}
			route := func(b *testing.B, keys []gatekeeper.PullKey, err error) {
				if err != nil {
					b.Fatal(err)
				}
				found := 0
				for _, k := range keys {
					ev, err := s.Evidence(ctx, k)
					if err != nil {
						b.Fatal(err)
					}
					if match(ev) {
						found++
					}
				}
				if found != perRepo {
					b.Fatalf("found %d pull requests, want %d", found, perRepo)
				}
			}
			b.Run("scan", func(b *testing.B) {
				for b.Loop() {
					keys, err := s.Pulls(ctx)
					route(b, keys, err)
				}
			})
			b.Run("index", func(b *testing.B) {
				for b.Loop() {
					keys, err := s.PullsIndexed(ctx, gatekeeper.BaseTerms(pushed.ID, pushed.Owner, pushed.Name, "master")...)
					route(b, keys, err)
				}
			})
		})
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

// BenchmarkEvaluationWrites: one evaluation's writes on a busy release
// pull request, three round trips against one Settle (see
// storetest.EvaluationWrites), on a redis-server with appendfsync always.
func BenchmarkEvaluationWrites(b *testing.B) {
	srv := redistest.Start(b)
	s, err := Open(context.Background(), srv.URL(0), WithPrefix(newPrefix()))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	key := gatekeeper.PullKey{Owner: "acme", Repo: "shop", Number: 1}
	seed(b, s, key)
	storetest.EvaluationWrites(b, s, key, benchStart)
}
