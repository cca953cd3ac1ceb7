package webhooks_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/releasegate/gatekeeper/gatekeeper"
	"github.com/releasegate/gatekeeper/gatekeeper/gatekeepertest"
	"github.com/releasegate/gatekeeper/gatekeeper/githubevents"
	"github.com/releasegate/gatekeeper/webhooks"
)

func TestMain(m *testing.M) {
	// Keep gin from printing its debug banner and routes in test output.
	gin.SetMode(gin.TestMode)
	os.Exit(m.Run())
}

// fixtures holds the recorded GitHub payloads, copied byte for byte from
// shared/fixtures/github.
const fixtures = "../test/testdata/fixtures/github"

const testSecret = "test-webhook-secret"

// helloKey is the pull request of the octokit fixtures; its branches,
// changes → master, are gated in the harness.
var helloKey = gatekeeper.PullKey{Owner: "Codertocat", Repo: "Hello-World", Number: 2}

const helloHead = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(fixtures, name))
	if err != nil {
		t.Fatalf("reading fixture: %v", err)
	}
	return data
}

func sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// harness is a real gin engine over a real gatekeeper.Service, whose Store,
// Evaluator and Publisher are the recording fakes.
type harness struct {
	store   *gatekeepertest.Store
	eval    *gatekeepertest.Evaluator
	pub     *gatekeepertest.Publisher
	svc     *gatekeeper.Service
	metrics *webhooks.Metrics
	handler http.Handler
	logs    *gatekeepertest.LogBuffer
}

func newHarness(t testing.TB, edit ...func(*webhooks.Options)) *harness {
	t.Helper()
	return buildHarness(t, false, edit...)
}

// buildHarness is newHarness with a choice of a Publisher in dry-run mode.
func buildHarness(t testing.TB, dryRun bool, edit ...func(*webhooks.Options)) *harness {
	t.Helper()
	clock := gatekeepertest.NewClock(time.Date(2024, 5, 6, 10, 0, 0, 0, time.UTC))
	gated, err := gatekeeper.ParseBranchPairs("staging:master,changes:master")
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{
		store:   gatekeepertest.NewStore(clock),
		eval:    gatekeepertest.NewEvaluator(gatekeeper.Decision{State: gatekeeper.Pending, Waiting: []string{"approval from QA"}}, "rev-1"),
		pub:     gatekeepertest.NewPublisher(dryRun),
		metrics: webhooks.NewMetrics(),
		logs:    &gatekeepertest.LogBuffer{},
	}
	var logTo io.Writer = h.logs
	if _, ok := t.(*testing.B); ok {
		// A benchmark would fill the buffer without end; formatting the
		// lines is still measured.
		logTo = io.Discard
	}
	logger := slog.New(slog.NewJSONHandler(logTo, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h.svc, err = gatekeeper.New(gatekeeper.Options{
		Store: h.store, Evaluator: h.eval, Publisher: h.pub, Clock: clock, Logger: logger,
		Observer: h.metrics, Gated: gated, PublicURL: "https://gate.example",
	})
	if err != nil {
		t.Fatalf("gatekeeper.New: %v", err)
	}
	o := webhooks.Options{
		Service:       h.svc,
		ParseGitHub:   githubevents.ParseDelivery,
		WebhookSecret: []byte(testSecret),
		Logger:        logger,
		Metrics:       h.metrics,
	}
	for _, e := range edit {
		e(&o)
	}
	h.handler, err = webhooks.New(o)
	if err != nil {
		t.Fatalf("webhooks.New: %v", err)
	}
	return h
}

// deliver posts body as GitHub would: JSON, signed with testSecret, with
// the event and delivery headers. edit may change the request afterwards.
func (h *harness) deliver(t testing.TB, event, delivery string, body []byte, edit ...func(*http.Request)) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/webhooks/github", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("User-Agent", "GitHub-Hookshot/044aadd")
	r.Header.Set("X-GitHub-Event", event)
	r.Header.Set("X-GitHub-Delivery", delivery)
	r.Header.Set("X-Hub-Signature-256", sign(testSecret, body))
	for _, e := range edit {
		e(r)
	}
	w := httptest.NewRecorder()
	h.handler.ServeHTTP(w, r)
	return w
}

func (h *harness) get(t testing.TB, path string) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	h.handler.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
	return w
}

// stored counts the Record calls that stored their delivery.
func (h *harness) stored() int {
	n := 0
	for _, r := range h.store.Records() {
		if r.Err == nil {
			n++
		}
	}
	return n
}

// decode decodes a JSON response body into a map.
func decode(t testing.TB, w *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type = %q, want JSON; body %s", ct, w.Body)
	}
	var m map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
		t.Fatalf("decoding response %q: %v", w.Body, err)
	}
	return m
}

// runService runs the Service's workers until the test ends.
func (h *harness) runService(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.svc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}
