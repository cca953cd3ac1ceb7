package test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"

	"github.com/releasegate/gatekeeper/gatekeeper/redisstore/redistest"
)

// TestRedisCrashAfterAcknowledge is TestCrashAfterAcknowledge on the Redis
// store, with both processes killed hard: the gatekeeper answers 202 to a
// burst while its statuses hang, then the gatekeeper and redis-server
// (appendonly yes, appendfsync always) get SIGKILL, both start again, and
// every acknowledged delivery is evaluated once and its status posted.
func TestRedisCrashAfterAcknowledge(t *testing.T) {
	t.Parallel()
	const pulls = 20
	rds := redistest.Start(t)
	gh := newFakeGitHub(t)
	gh.block = make(chan struct{}) // statuses hang until the restart
	s := startServer(t, serverOptions{github: gh, extra: []string{"GATEKEEPER_STORE=" + rds.URL(3)}})

	var opened map[string]any
	if err := json.Unmarshal(fixture(t, "github/pull_request.opened.json"), &opened); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= pulls; i++ {
		opened["number"] = 200 + i
		pr := opened["pull_request"].(map[string]any)
		pr["number"] = 200 + i
		pr["head"].(map[string]any)["sha"] = fmt.Sprintf("%040x", 0xbeef00+i)
		pr["updated_at"] = "2030-01-01T00:00:00Z"
		body, _ := json.Marshal(opened)
		if code, resp := s.deliver("pull_request", fmt.Sprintf("rcrash-%d", i), body); code != http.StatusAccepted {
			t.Fatalf("delivery %d: %d %s", i, code, resp)
		}
	}
	s.stop(syscall.SIGKILL)
	rds.Kill()

	gh.mu.Lock()
	close(gh.block)
	gh.block = nil
	gh.mu.Unlock()
	rds.Restart(t)
	s.start()
	eventually(t, "a status for every acknowledged pull request", func() bool {
		seen := map[string]bool{}
		for _, p := range gh.Posts() {
			seen[p.Body["target_url"].(string)] = true
		}
		return len(seen) == pulls
	})
	for i := 1; i <= pulls; i++ {
		p := s.settled("Codertocat", "Hello-World", 200+i)
		n := 0
		for _, e := range p.Evidence.Log {
			if e.Delivery == fmt.Sprintf("rcrash-%d", i) {
				n++
			}
		}
		if n != 1 || p.Latest.Decision.State != "pending" {
			t.Errorf("#%d: delivery applied %d times (want 1), state %q (want pending)", 200+i, n, p.Latest.Decision.State)
		}
	}
	// A redelivery of an acknowledged delivery is still a duplicate.
	body, _ := json.Marshal(opened)
	if code, resp := s.deliver("pull_request", fmt.Sprintf("rcrash-%d", pulls), body); code != http.StatusAccepted || !strings.Contains(resp, "duplicate") {
		t.Errorf("redelivery after the crash: %d %s, want 202 duplicate", code, resp)
	}
}
