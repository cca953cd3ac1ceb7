package test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// peakRSS is the process's peak resident set (VmHWM) in MiB.
func peakRSS(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return kb >> 10
		}
	}
	t.Fatal("no VmHWM")
	return 0
}

// TestAttackUnsignedBodiesDoNotExhaustMemory: anybody who can reach the
// webhook endpoint may send bodies up to the 25 MiB limit with a forged
// signature. Each must be read whole before its HMAC can be checked, but
// the bodies of many such requests at once must not all be held in memory:
// the process would be killed for its memory, and every gate with it.
func TestAttackUnsignedBodiesDoNotExhaustMemory(t *testing.T) {
	s := startServer(t, serverOptions{})
	const conns, size = 64, 24 << 20
	base := peakRSS(t, s.cmd.Process.Pid)
	body := bytes.Repeat([]byte("x"), size)
	var wg sync.WaitGroup
	start := time.Now()
	codes := make([]int, conns)
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest(http.MethodPost, s.url("/webhooks/github"), bytes.NewReader(body))
			req.Header.Set("X-GitHub-Event", "pull_request")
			req.Header.Set("X-GitHub-Delivery", fmt.Sprintf("flood-%d", i))
			req.Header.Set("X-Hub-Signature-256", "sha256="+strings.Repeat("0", 64))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			codes[i] = resp.StatusCode
		}()
	}
	wg.Wait()
	peak := peakRSS(t, s.cmd.Process.Pid)
	t.Logf("%d forged %d MiB bodies in %s: peak RSS %d MiB (before: %d MiB); answers %v", conns, size>>20, time.Since(start), peak, base, codes)
	// All held at once they are conns*size (1.5 GiB); read a few at a
	// time, a few hundred MiB whatever their number.
	if grew := peak - base; grew > conns*(size>>20)/4 {
		t.Errorf("peak RSS grew by %d MiB for %d forged bodies of %d MiB: they were held at once", grew, conns, size>>20)
	}
	if code, _ := s.deliver("ping", "after-flood", fixture(t, "github/ping.json")); code != http.StatusOK {
		t.Errorf("after the flood a ping is %d", code)
	}
}
