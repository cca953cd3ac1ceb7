package jenkinsapi

import (
	"context"
	"testing"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// BenchmarkEnrich measures one build's full evidence (build, stages, test
// report, coverage: four requests, three of them concurrent) from the fake
// Jenkins on loopback, through the real gojenkins client.
func BenchmarkEnrich(b *testing.B) {
	_, c := prFake(b)
	ctx := context.Background()
	in := gatekeeper.Build{JobPath: prJob, Number: prNumber}
	b.ReportAllocs()
	for b.Loop() {
		got, err := c.Enrich(ctx, in)
		if err != nil {
			b.Fatal(err)
		}
		if got.HeadSHA != headSHA || got.Coverage == nil || got.Tests == nil || len(got.Stages) != 7 {
			b.Fatalf("incomplete evidence: %+v", got)
		}
	}
}

// BenchmarkGather measures one Source.Gather for a notified PR-merge build
// on loopback: the build, its stages, test report, coverage and archived
// Trivy report (18 kB), and the baseline (master job, its last successful
// build, coverage and tests): nine requests through the real gojenkins
// client. The evidence is not updated between iterations, so every
// iteration does the whole work.
func BenchmarkGather(b *testing.B) {
	_, s, _ := sourceFake(b, Options{})
	ev := pullEvidence(b, notificationJSON(b, nil))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		events, err := s.Gather(ctx, ev)
		if err != nil {
			b.Fatal(err)
		}
		if len(events) != 2 || events[0].Build == nil || events[0].Build.Vulnerabilities == nil || events[1].Baseline == nil {
			b.Fatalf("incomplete evidence: %+v", events)
		}
	}
}

// BenchmarkParseNotification measures parsing one Notification plugin
// payload, the work the webhook does before answering.
func BenchmarkParseNotification(b *testing.B) {
	body := notificationJSON(b, nil)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseNotification(body, ParseOptions{}, testNow); err != nil {
			b.Fatal(err)
		}
	}
}
