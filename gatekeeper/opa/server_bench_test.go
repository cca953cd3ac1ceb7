package opa

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// BenchmarkOPAServer is the anchor of the decisions figure: the same
// policy and the same busy-release input (benchInput), as decisions of an
// `opa run --server` at OPA_SERVER_URL (POST /v1/data/gatekeeper/decision),
// from four connections. test/run-bench.sh starts that server pinned to one
// core and runs this benchmark on the other; without OPA_SERVER_URL it is
// skipped. Every answer must be the decision Evaluate gives in process.
func BenchmarkOPAServer(b *testing.B) {
	base := os.Getenv("OPA_SERVER_URL")
	if base == "" {
		b.Skip("OPA_SERVER_URL is not set (test/run-bench.sh starts an opa run --server)")
	}
	ctx := context.Background()
	in := benchInput(b)
	want, err := load(b, policiesDir).Evaluate(ctx, in)
	if err != nil || want.State != gatekeeper.Success {
		b.Fatalf("Evaluate = %+v, %v; want success", want, err)
	}
	body, err := json.Marshal(map[string]any{"input": in})
	if err != nil {
		b.Fatal(err)
	}
	url := strings.TrimSuffix(base, "/") + "/v1/data/" + strings.ReplaceAll(strings.TrimPrefix(Query, "data."), ".", "/")
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	post := func() (string, error) {
		resp, err := client.Post(url, "application/json", bytes.NewReader(body))
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		var out struct {
			Result struct {
				State string `json:"state"`
			} `json:"result"`
		}
		raw, err := io.ReadAll(resp.Body)
		if err != nil {
			return "", err
		}
		if resp.StatusCode != http.StatusOK {
			return "", &httpError{resp.StatusCode, string(raw)}
		}
		if err := json.Unmarshal(raw, &out); err != nil {
			return "", err
		}
		return out.Result.State, nil
	}
	if got, err := post(); err != nil || got != string(want.State) {
		b.Fatalf("opa server decided %q, %v; in process %q", got, err, want.State)
	}
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if got, err := post(); err != nil || got != string(want.State) {
				b.Errorf("opa server decided %q, %v; in process %q", got, err, want.State)
				return
			}
		}
	})
}

type httpError struct {
	code int
	body string
}

func (e *httpError) Error() string { return http.StatusText(e.code) + ": " + e.body }
