package gatekeeper_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/releasegate/gatekeeper/gatekeeper"
	"github.com/releasegate/gatekeeper/gatekeeper/gatekeepertest"
)

// syncBuffer collects log output from concurrent workers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// evaluatedLines returns the level of each "evaluated" log line.
func (b *syncBuffer) evaluatedLines(t *testing.T) []string {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var levels []string
	for _, line := range strings.Split(strings.TrimSpace(b.buf.String()), "\n") {
		var rec struct{ Level, Msg string }
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec.Msg == "evaluated" {
			levels = append(levels, rec.Level)
		}
	}
	return levels
}

// TestEvaluatedLogsAtInfoOnlyOnChange: reconciling every open pull request
// every minute must not write an INFO line per pull request per minute; a
// decision that changed is INFO, one that did not is DEBUG.
func TestEvaluatedLogsAtInfoOnlyOnChange(t *testing.T) {
	t.Parallel()
	logs := &syncBuffer{}
	ev := gatekeepertest.NewEvaluator(gatekeeper.Decision{State: gatekeeper.Pending, Reasons: []string{},
		Waiting: []string{"QA approval"}, Votes: []gatekeeper.VoteVerdict{}}, "rev1")
	h := startWith(t, gatekeeper.Options{Evaluator: ev,
		Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	h.accept(t, opened(head, t0))
	h.settle(t)
	for i := 1; i <= 2; i++ { // what reconciling does: evaluate again, nothing new
		if err := h.svc.Reconcile(context.Background()); err != nil {
			t.Fatal(err)
		}
		h.settle(t)
	}
	ev.Decide(gatekeeper.Decision{State: gatekeeper.Failure, Reasons: []string{"coverage fell"}, Waiting: []string{}, Votes: []gatekeeper.VoteVerdict{}}, nil)
	h.accept(t, gatekeeper.Event{Name: "pull_request.edited", Key: key, PullRequest: opened(head, t0.Add(time.Minute)).PullRequest})
	h.settle(t)
	got := strings.Join(logs.evaluatedLines(t), " ")
	if want := "INFO DEBUG DEBUG INFO"; got != want {
		t.Errorf("levels of the evaluated lines: %s, want %s", got, want)
	}
}
