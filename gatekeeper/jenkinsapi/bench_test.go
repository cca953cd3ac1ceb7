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
