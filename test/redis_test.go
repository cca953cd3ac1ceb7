package test

import (
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
	rds := redistest.Start(t)
	crashAfterAcknowledge(t, serverOptions{extra: []string{"GATEKEEPER_STORE=" + rds.URL(3)}}, "rcrash", 200, func() {
		rds.Kill()
		rds.Restart(t)
	})
}
