package webhooks_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/releasegate/gatekeeper/gatekeeper"
	"github.com/releasegate/gatekeeper/webhooks"
)

func sha1Signature(secret string, body []byte) string {
	mac := hmac.New(sha1.New, []byte(secret))
	mac.Write(body)
	return "sha1=" + hex.EncodeToString(mac.Sum(nil))
}

func TestGitHubReceiver(t *testing.T) {
	t.Parallel()
	opened := readFixture(t, "pull_request.opened.json")
	form := []byte(url.Values{"payload": {string(opened)}}.Encode())
	tests := []struct {
		name       string
		event      string
		body       []byte
		edit       func(*http.Request)
		wantCode   int
		wantBody   map[string]any
		wantStored int
	}{
		{
			name: "signed pull request opened", event: "pull_request", body: opened,
			wantCode: http.StatusAccepted, wantBody: map[string]any{"result": "accepted"}, wantStored: 1,
		},
		{
			name: "form-encoded delivery, signature over the whole form", event: "pull_request", body: form,
			edit:     func(r *http.Request) { r.Header.Set("Content-Type", "application/x-www-form-urlencoded") },
			wantCode: http.StatusAccepted, wantBody: map[string]any{"result": "accepted"}, wantStored: 1,
		},
		{
			name: "form-encoded delivery signed over the JSON only", event: "pull_request", body: form,
			edit: func(r *http.Request) {
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				r.Header.Set("X-Hub-Signature-256", sign(testSecret, opened))
			},
			wantCode: http.StatusUnauthorized, wantBody: map[string]any{"error": "The signature is missing or does not match the body."},
		},
		{
			name: "forged signature", event: "pull_request", body: opened,
			edit:     func(r *http.Request) { r.Header.Set("X-Hub-Signature-256", sign("not-the-secret", opened)) },
			wantCode: http.StatusUnauthorized, wantBody: map[string]any{"error": "The signature is missing or does not match the body."},
		},
		{
			name: "valid SHA-1 signature but no SHA-256 one", event: "pull_request", body: opened,
			edit: func(r *http.Request) {
				r.Header.Del("X-Hub-Signature-256")
				r.Header.Set("X-Hub-Signature", sha1Signature(testSecret, opened))
			},
			wantCode: http.StatusUnauthorized, wantBody: map[string]any{"error": "The signature is missing or does not match the body."},
		},
		{
			name: "SHA-1 signature in the SHA-256 header", event: "pull_request", body: opened,
			edit:     func(r *http.Request) { r.Header.Set("X-Hub-Signature-256", sha1Signature(testSecret, opened)) },
			wantCode: http.StatusUnauthorized, wantBody: map[string]any{"error": "The signature is missing or does not match the body."},
		},
		{
			name: "body changed after signing", event: "pull_request", body: opened,
			edit: func(r *http.Request) {
				changed := bytes.Replace(opened, []byte(`"changes"`), []byte(`"staging"`), 1)
				r.Body = io.NopCloser(bytes.NewReader(changed))
				r.ContentLength = int64(len(changed))
			},
			wantCode: http.StatusUnauthorized, wantBody: map[string]any{"error": "The signature is missing or does not match the body."},
		},
		{
			name: "malformed JSON with a valid signature", event: "pull_request", body: opened[:len(opened)/2],
			wantCode: http.StatusBadRequest,
		},
		{
			name: "unsupported content type", event: "pull_request", body: opened,
			edit:     func(r *http.Request) { r.Header.Set("Content-Type", "text/plain") },
			wantCode: http.StatusBadRequest,
		},
		{
			name: "no event header", event: "", body: opened,
			wantCode: http.StatusBadRequest,
		},
		{
			name: "no delivery header", event: "pull_request", body: opened,
			edit:     func(r *http.Request) { r.Header.Del("X-GitHub-Delivery") },
			wantCode: http.StatusBadRequest,
		},
		{
			name: "ping", event: "ping", body: readFixture(t, "ping.json"),
			wantCode: http.StatusOK, wantBody: map[string]any{"ok": true, "zen": "Anything added dilutes everything else."},
		},
		{
			name: "comment on a plain issue", event: "issue_comment", body: readFixture(t, "issue_comment.created.on-issue.json"),
			wantCode: http.StatusAccepted, wantBody: map[string]any{"result": "ignored"},
		},
		{
			name: "pull request on branches that are not gated", event: "pull_request", body: readFixture(t, "pull_request.closed.merged.json"),
			wantCode: http.StatusAccepted, wantBody: map[string]any{"result": "ignored"},
		},
		{
			name: "event type not used", event: "check_suite", body: readFixture(t, "check_suite.completed.json"),
			wantCode: http.StatusAccepted, wantBody: map[string]any{"result": "ignored"},
		},
		{
			name: "status for a commit no pull request has", event: "status", body: readFixture(t, "status.json"),
			wantCode: http.StatusAccepted, wantBody: map[string]any{"result": "ignored"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			var edits []func(*http.Request)
			if tt.edit != nil {
				edits = append(edits, tt.edit)
			}
			w := h.deliver(t, tt.event, "delivery-1", tt.body, edits...)
			if w.Code != tt.wantCode {
				t.Fatalf("status = %d, want %d; body %s", w.Code, tt.wantCode, w.Body)
			}
			got := decode(t, w)
			if tt.wantBody != nil {
				if diff := cmp.Diff(tt.wantBody, got); diff != "" {
					t.Errorf("body mismatch (-want +got):\n%s", diff)
				}
			} else if got["error"] == "" || got["error"] == nil {
				t.Errorf("error body %v names no error", got)
			}
			if n := h.stored(); n != tt.wantStored {
				t.Errorf("store recorded %d deliveries, want %d", n, tt.wantStored)
			}
		})
	}
}

func TestGitHubReceiverStoresEvent(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w := h.deliver(t, "pull_request", "72d3162e-cc78-11e3-81ab-4c9367dc0958", readFixture(t, "pull_request.opened.json"))
	if w.Code != http.StatusAccepted {
		t.Fatalf("status = %d, want 202; body %s", w.Code, w.Body)
	}
	ev, err := h.store.Evidence(context.Background(), helloKey)
	if err != nil {
		t.Fatalf("the event did not reach the store: %v", err)
	}
	if ev.PR == nil || ev.PR.HeadSHA != helloHead || ev.PR.Title != "Update the README with new information." {
		t.Errorf("stored pull request = %+v, want the fixture's", ev.PR)
	}
	wantLog := []gatekeeper.LogEntry{{Delivery: "72d3162e-cc78-11e3-81ab-4c9367dc0958", Event: "pull_request.opened", SHA: helloHead, At: ev.Log[0].At}}
	if diff := cmp.Diff(wantLog, ev.Log); diff != "" {
		t.Errorf("evidence log mismatch (-want +got):\n%s", diff)
	}
	gen, queued, err := h.store.Generation(context.Background(), helloKey)
	if err != nil || !queued || gen == 0 {
		t.Errorf("Generation = %d, %v, %v; want the pull request queued", gen, queued, err)
	}

	// The log line names the delivery and the pull request, and holds
	// neither the secret nor the payload.
	logs := h.logs.String()
	for _, want := range []string{`"delivery":"72d3162e-cc78-11e3-81ab-4c9367dc0958"`, `"repo":"Codertocat/Hello-World"`, `"pr":2`, `"sha":"` + helloHead + `"`, `"result":"accepted"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("log does not contain %s:\n%s", want, logs)
		}
	}
	for _, secret := range []string{testSecret, "pretty simple change"} {
		if strings.Contains(logs, secret) {
			t.Errorf("log contains %q:\n%s", secret, logs)
		}
	}
}

func TestGitHubReceiverDuplicateDelivery(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	body := readFixture(t, "pull_request.synchronize.json")
	var results []any
	for range 2 {
		w := h.deliver(t, "pull_request", "same-delivery", body)
		if w.Code != http.StatusAccepted {
			t.Fatalf("status = %d, want 202; body %s", w.Code, w.Body)
		}
		results = append(results, decode(t, w)["result"])
	}
	if diff := cmp.Diff([]any{"accepted", "duplicate"}, results); diff != "" {
		t.Errorf("results mismatch (-want +got):\n%s", diff)
	}
	if n := h.stored(); n != 1 {
		t.Errorf("store recorded %d deliveries, want 1", n)
	}
	ev, err := h.store.Evidence(context.Background(), helloKey)
	if err != nil {
		t.Fatal(err)
	}
	if len(ev.Log) != 1 {
		t.Errorf("evidence log has %d entries, want 1: %+v", len(ev.Log), ev.Log)
	}
}

func TestGitHubReceiverStoreDown(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.store.Fail(errors.New("disk on fire"))
	w := h.deliver(t, "pull_request", "delivery-1", readFixture(t, "pull_request.opened.json"))
	if w.Code != http.StatusServiceUnavailable {
		t.Fatalf("status = %d, want 503; body %s", w.Code, w.Body)
	}
	if got := decode(t, w)["error"]; got != "The release gatekeeper cannot answer right now; try again shortly." {
		t.Errorf("error = %q; internals must not leak to the caller", got)
	}
	if n := h.stored(); n != 0 {
		t.Errorf("store recorded %d deliveries, want 0", n)
	}
	if !strings.Contains(h.logs.String(), "disk on fire") {
		t.Errorf("the store error was not logged:\n%s", h.logs)
	}
}

// TestGitHubReceiverTooLarge sends one byte over the limit, with a valid
// signature, both with a Content-Length and streamed without one.
func TestGitHubReceiverTooLarge(t *testing.T) {
	t.Parallel()
	body := bytes.Repeat([]byte(" "), webhooks.MaxBody+1)
	tests := []struct {
		name string
		edit func(*http.Request)
	}{
		{name: "content length says so", edit: func(*http.Request) {}},
		{name: "streamed", edit: func(r *http.Request) {
			r.ContentLength = -1
			r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body)))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			w := h.deliver(t, "pull_request", "delivery-1", body, tt.edit)
			if w.Code != http.StatusRequestEntityTooLarge {
				t.Fatalf("status = %d, want 413; body %s", w.Code, w.Body)
			}
			if n := h.stored(); n != 0 {
				t.Errorf("store recorded %d deliveries, want 0", n)
			}
		})
	}
}

// TestGitHubReceiverAtLimit checks that the limit is not off by one: a body
// of exactly MaxBody bytes is read and judged on its content.
func TestGitHubReceiverAtLimit(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	opened := readFixture(t, "pull_request.opened.json")
	body := append(append([]byte(nil), opened...), bytes.Repeat([]byte(" "), webhooks.MaxBody-len(opened))...)
	w := h.deliver(t, "pull_request", "delivery-1", body)
	if w.Code != http.StatusAccepted {
		t.Fatalf("status = %d, want 202; body %s", w.Code, w.Body)
	}
}

// TestGitHubReceiverOwnStatus checks that GitHub echoing the gatekeeper's
// own status does not queue another evaluation.
// TestGitHubReceiverStatusOfKnownHead: a status event names only a commit;
// it is stored for the pull request whose head that commit is, whatever its
// context (the Service compares our own context with what it posted).
func TestGitHubReceiverStatusOfKnownHead(t *testing.T) {
	t.Parallel()
	body := readFixture(t, "status.json") // context "default", sha 6113728f…
	const sha = "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
	h := newHarness(t)
	w := h.deliver(t, "status", "delivery-0", body)
	if got := decode(t, w)["result"]; got != "ignored" {
		t.Errorf("status for an unknown commit: result = %v, want ignored", got)
	}
	// A known pull request whose head is the status's commit.
	pr := gatekeeper.PullRequest{Key: helloKey, HeadRef: "changes", BaseRef: "master", HeadSHA: sha, State: "open"}
	if _, err := h.svc.Accept(context.Background(), gatekeeper.Event{Delivery: "seed", Name: "pull_request.opened", Key: helloKey, SHA: sha, PullRequest: &pr}); err != nil {
		t.Fatal(err)
	}
	w = h.deliver(t, "status", "delivery-1", body)
	if w.Code != http.StatusAccepted {
		t.Fatalf("status = %d, want 202; body %s", w.Code, w.Body)
	}
	if got := decode(t, w)["result"]; got != "accepted" {
		t.Errorf("result = %v, want accepted", got)
	}
	ev, err := h.store.Evidence(context.Background(), helloKey)
	if err != nil {
		t.Fatal(err)
	}
	if len(ev.Checks) != 1 || ev.Checks[0].Name != "default" || ev.Checks[0].SHA != sha {
		t.Errorf("checks %+v, want the default-context status on %s", ev.Checks, sha)
	}
}

func TestNewRefusesIncompleteOptions(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	parse := func(string, string, []byte) (gatekeeper.Event, bool, error) { return gatekeeper.Event{}, false, nil }
	tests := []struct {
		name string
		o    webhooks.Options
	}{
		{name: "empty secret", o: webhooks.Options{Service: h.svc, ParseGitHub: parse, WebhookSecret: []byte{}}},
		{name: "no service", o: webhooks.Options{ParseGitHub: parse, WebhookSecret: []byte("s")}},
		{name: "no parser", o: webhooks.Options{Service: h.svc, WebhookSecret: []byte("s")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := webhooks.New(tt.o); !errors.Is(err, gatekeeper.ErrInvalid) {
				t.Errorf("New error = %v, want ErrInvalid", err)
			}
		})
	}
}
