package gatekeeper_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/releasegate/gatekeeper/gatekeeper"
	"github.com/releasegate/gatekeeper/gatekeeper/gatekeepertest"
)

// evaluatedLines returns the level of each "evaluated" line of a JSON log.
func evaluatedLines(t *testing.T, log string) []string {
	t.Helper()
	var levels []string
	for _, line := range strings.Split(strings.TrimSpace(log), "\n") {
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
	logs := &gatekeepertest.LogBuffer{}
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
	got := strings.Join(evaluatedLines(t, logs.String()), " ")
	if want := "INFO DEBUG DEBUG INFO"; got != want {
		t.Errorf("levels of the evaluated lines: %s, want %s", got, want)
	}
}
