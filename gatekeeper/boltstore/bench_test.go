package boltstore

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/releasegate/gatekeeper/gatekeeper"
	"github.com/releasegate/gatekeeper/gatekeeper/storetest"
)

var benchStart = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// openBench opens a store holding the evidence of a busy release pull
// request under each of keys.
func openBench(b *testing.B, keys []gatekeeper.PullKey, opts ...Option) *Store {
	b.Helper()
	s, err := Open(filepath.Join(b.TempDir(), "gatekeeper.db"), opts...)
	if err != nil {
		b.Fatalf("Open: %v", err)
	}
	b.Cleanup(func() { s.Close() })
	for _, key := range keys {
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
	ev, err := s.Evidence(context.Background(), keys[0])
	if err != nil {
		b.Fatalf("Evidence: %v", err)
	}
	data, _ := json.Marshal(ev)
	b.Logf("evidence: %d bytes JSON, %d log entries", len(data), len(ev.Log))
	return s
}

func benchKeys(n int) []gatekeeper.PullKey {
	keys := make([]gatekeeper.PullKey, n)
	for i := range keys {
		keys[i] = gatekeeper.PullKey{Owner: "acme", Repo: "shop", Number: i + 1}
	}
	return keys
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

// BenchmarkRecordSerial is one webhook at a time: every Record pays its own
// fsync and its own decode and encode of the evidence.
func BenchmarkRecordSerial(b *testing.B) {
	keys := benchKeys(1)
	s := openBench(b, keys)
	ctx := context.Background()
	w0 := writtenBytes(b)
	b.ResetTimer()
	for i := range b.N {
		d := fmt.Sprintf("serial-%d", i)
		if err := s.Record(ctx, d, keys, statusApply(keys[0], d, int64(i))); err != nil {
			b.Fatalf("Record: %v", err)
		}
	}
	b.ReportMetric(float64(writtenBytes(b)-w0)/float64(b.N), "written-B/op")
}

// writtenBytes is what this process has passed to write system calls so
// far (/proc/self/io wchar): bbolt's pwrites of the pages a commit changed.
func writtenBytes(b *testing.B) int64 {
	data, err := os.ReadFile("/proc/self/io")
	if err != nil {
		b.Skipf("no /proc/self/io: %v", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "wchar: "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	b.Skip("no wchar in /proc/self/io")
	return 0
}

// BenchmarkRecordParallel is many webhook requests at once (32 goroutines):
// they share group commits. ns/op is the inverse of throughput. "keys=1" is
// every request about the release pull request (the real hot spot); with
// "keys=16" they are spread out.
func BenchmarkRecordParallel(b *testing.B) {
	for _, nkeys := range []int{1, 16} {
		b.Run(fmt.Sprintf("keys=%d", nkeys), func(b *testing.B) {
			keys := benchKeys(nkeys)
			s := openBench(b, keys)
			ctx := context.Background()
			var n atomic.Int64
			b.SetParallelism(16)
			w0 := writtenBytes(b)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := n.Add(1)
					key := keys[int(i)%len(keys)]
					d := fmt.Sprintf("parallel-%d", i)
					if err := s.Record(ctx, d, []gatekeeper.PullKey{key}, statusApply(key, d, i)); err != nil {
						b.Errorf("Record: %v", err)
						return
					}
				}
			})
			b.ReportMetric(float64(writtenBytes(b)-w0)/float64(b.N), "written-B/op")
		})
	}
}

// BenchmarkUpdateParallel does the same read-modify-write as
// BenchmarkRecordParallel through Update, which commits alone (one fsync
// each): the difference is what group commit buys.
func BenchmarkUpdateParallel(b *testing.B) {
	keys := benchKeys(1)
	s := openBench(b, keys)
	ctx := context.Background()
	var n atomic.Int64
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			if _, err := s.Update(ctx, keys[0], statusApply(keys[0], "", i)); err != nil {
				b.Errorf("Update: %v", err)
				return
			}
		}
	})
}

// BenchmarkEvidence loads the evidence of a busy release pull request.
func BenchmarkEvidence(b *testing.B) {
	keys := benchKeys(1)
	s := openBench(b, keys)
	ctx := context.Background()
	b.ResetTimer()
	for range b.N {
		if _, err := s.Evidence(ctx, keys[0]); err != nil {
			b.Fatalf("Evidence: %v", err)
		}
	}
}

// BenchmarkEvidenceCold loads the evidence of a busy release pull request
// from the file, past the cache: what a read of a pull request not read
// lately costs (its 200-entry log included).
func BenchmarkEvidenceCold(b *testing.B) {
	keys := benchKeys(1)
	s := openBench(b, keys)
	ctx := context.Background()
	b.ResetTimer()
	for range b.N {
		s.cache.mu.Lock()
		s.cache.m = nil
		s.cache.mu.Unlock()
		if _, err := s.Evidence(ctx, keys[0]); err != nil {
			b.Fatalf("Evidence: %v", err)
		}
	}
}
