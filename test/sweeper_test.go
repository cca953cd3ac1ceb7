package test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// hookDeliveries is the delivery log of the repository's webhook (id 7)
// as GitHub keeps it, in front of an echoRepo: GET …/hooks/7/deliveries
// lists it newest first, and POST …/deliveries/{id}/attempts redelivers
// the stored payload with its GUID to the gatekeeper, as GitHub does.
type hookDeliveries struct {
	t    *testing.T
	hook string // the gatekeeper's webhook URL

	mu          sync.Mutex
	log         []hookDelivery // newest first
	redelivered []int64
}

type hookDelivery struct {
	id         int64
	guid       string
	event      string
	statusCode int // 0: GitHub could not connect or timed out
	payload    []byte
	at         time.Time
}

var attemptsPath = regexp.MustCompile(`^` + repoPath + `/hooks/7/deliveries/([0-9]+)/attempts$`)

func (h *hookDeliveries) handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodGet && r.URL.Path == repoPath+"/hooks/7/deliveries":
			h.mu.Lock()
			list := []map[string]any{}
			for _, d := range h.log {
				status := "OK"
				if d.statusCode == 0 {
					status = "failed to connect to host"
				} else if d.statusCode >= 300 {
					status = fmt.Sprintf("Invalid HTTP Response: %d", d.statusCode)
				}
				list = append(list, map[string]any{"id": d.id, "guid": d.guid, "delivered_at": d.at.UTC().Format(time.RFC3339),
					"redelivery": false, "duration": 0.1, "status": status, "status_code": d.statusCode, "event": d.event,
					"action": "opened", "installation_id": nil, "repository_id": 1296269})
			}
			h.mu.Unlock()
			writeJSONStatus(w, http.StatusOK, mustJSON(h.t, list))
		case r.Method == http.MethodPost && attemptsPath.MatchString(r.URL.Path):
			id, _ := strconv.ParseInt(attemptsPath.FindStringSubmatch(r.URL.Path)[1], 10, 64)
			h.mu.Lock()
			h.redelivered = append(h.redelivered, id)
			var d *hookDelivery
			for i := range h.log {
				if h.log[i].id == id {
					d = &h.log[i]
				}
			}
			h.mu.Unlock()
			if d == nil {
				writeJSONStatus(w, http.StatusNotFound, []byte(`{"message":"Not Found"}`))
				return
			}
			writeJSONStatus(w, http.StatusAccepted, []byte(`{}`))
			// GitHub redelivers shortly after, with the same GUID.
			go h.send(*d)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

func (h *hookDeliveries) send(d hookDelivery) {
	req, _ := http.NewRequest(http.MethodPost, h.hook, bytes.NewReader(d.payload))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "GitHub-Hookshot/e2e")
	req.Header.Set("X-GitHub-Event", d.event)
	req.Header.Set("X-GitHub-Delivery", d.guid)
	req.Header.Set("X-Hub-Signature-256", sign(d.payload))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

func (h *hookDeliveries) asked() []int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]int64(nil), h.redelivered...)
}

// TestSweeperHealsLostDeliveryEndToEnd: the gatekeeper received #5's
// opening, but answered it too late for GitHub (logged as a 502); then it
// was down when #2 was opened (GitHub could not connect). GitHub does not
// retry. After the restart, the sweeper asks GitHub to redeliver #2's
// opening only, the same GUID comes in, and #2 gets its evidence and its
// status.
func TestSweeperHealsLostDeliveryEndToEnd(t *testing.T) {
	t.Parallel()
	f := newEchoRepo(t)
	addr := freeAddr(t)
	h := &hookDeliveries{t: t, hook: "http://" + addr + "/webhooks/github"}
	front := httptest.NewServer(h.handler(http.HandlerFunc(f.serveHTTP)))
	t.Cleanup(front.Close)
	s := startServer(t, serverOptions{addr: addr, store: filepath.Join(t.TempDir(), "gatekeeper.db"), extra: []string{
		"GITHUB_API_URL=" + front.URL + "/", "GITHUB_TOKEN=e2e-token",
		"GATEKEEPER_GITHUB_HOOKS=Codertocat/Hello-World=7", "GATEKEEPER_DELIVERY_SWEEP=10s",
	}})
	f.mu.Lock()
	f.hook = s.url("/webhooks/github")
	f.mu.Unlock()

	pr2 := f.setPull(2, nil)
	pr5 := f.setPull(5, nil)
	open5 := openedPayload(t, pr5)
	if code, body := s.deliver("pull_request", "guid-open-5", open5); code != http.StatusAccepted {
		t.Fatalf("opened #5: %d %s", code, body)
	}
	s.settled("Codertocat", "Hello-World", 5)
	s.stop(syscall.SIGTERM)

	now := time.Now()
	h.mu.Lock()
	h.log = []hookDelivery{
		{id: 102, guid: "guid-open-2", event: "pull_request", statusCode: 0, payload: openedPayload(t, pr2), at: now},
		{id: 101, guid: "guid-open-5", event: "pull_request", statusCode: 502, payload: open5, at: now.Add(-time.Minute)},
	}
	h.mu.Unlock()
	s.start()
	p := s.settled("Codertocat", "Hello-World", 2)
	if len(p.Evidence.Log) == 0 || p.Evidence.Log[0].Delivery != "guid-open-2" {
		t.Errorf("#2's evidence log %+v, want the redelivered guid-open-2", p.Evidence.Log)
	}
	if got := h.asked(); len(got) != 1 || got[0] != 102 {
		t.Errorf("redeliveries asked %v, want only 102 (guid-open-5 is stored)", got)
	}
	resp, err := http.Get(s.url("/metrics"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), "gatekeeper_webhook_redeliveries_total 1\n") {
		t.Errorf("metrics lack gatekeeper_webhook_redeliveries_total 1")
	}
}
