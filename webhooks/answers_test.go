package webhooks_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/releasegate/gatekeeper/gatekeeper"
	"github.com/releasegate/gatekeeper/webhooks"
)

// withJenkins enables the Jenkins receiver with buildParser.
func withJenkins(o *webhooks.Options) {
	o.JenkinsToken = []byte(jenkinsToken)
	o.ParseJenkins = buildParser
}

// TestErrorAnswersAreSentences: what a caller reads in "error" is a whole
// sentence, never Go's wrapping chain ending in a sentinel word such as
// "…: invalid" that errors.Is needs but a person does not.
func TestErrorAnswersAreSentences(t *testing.T) {
	t.Parallel()
	signed := func(event, delivery string, body []byte, contentType string) func(*harness) *httptest.ResponseRecorder {
		return func(h *harness) *httptest.ResponseRecorder {
			return h.deliver(t, event, delivery, body, func(r *http.Request) {
				if contentType != "" {
					r.Header.Set("Content-Type", contentType)
				}
			})
		}
	}
	jenkins := func(auth string, body []byte) func(*harness) *httptest.ResponseRecorder {
		return func(h *harness) *httptest.ResponseRecorder {
			r := httptest.NewRequest(http.MethodPost, "/webhooks/jenkins", bytes.NewReader(body))
			r.Header.Set("Authorization", auth)
			w := httptest.NewRecorder()
			h.handler.ServeHTTP(w, r)
			return w
		}
	}
	get := func(path string) func(*harness) *httptest.ResponseRecorder {
		return func(h *harness) *httptest.ResponseRecorder { return h.get(t, path) }
	}
	tests := []struct {
		name string
		send func(*harness) *httptest.ResponseRecorder
		code int
		says string // a part of the answer that explains it
	}{
		{"no delivery header", signed("pull_request", "", []byte(`{}`), ""), http.StatusBadRequest, "X-GitHub-Delivery"},
		{"malformed ping", signed("ping", "d-1", []byte(`{"zen":`), ""), http.StatusBadRequest, "ping"},
		{"malformed pull request", signed("pull_request", "d-2", []byte(`{"action":"opened","pull_request":7}`), ""), http.StatusBadRequest, "pull_request"},
		{"unsupported content type", signed("ping", "d-3", []byte(`{}`), "text/plain"), http.StatusBadRequest, "text/plain"},
		{"form without payload", signed("ping", "d-4", []byte(`a=b`), "application/x-www-form-urlencoded"), http.StatusBadRequest, "payload"},
		{"bad signature", func(h *harness) *httptest.ResponseRecorder {
			return h.deliver(t, "ping", "d-5", []byte(`{}`), func(r *http.Request) { r.Header.Set("X-Hub-Signature-256", "sha256=00") })
		}, http.StatusUnauthorized, "signature"},
		{"malformed jenkins report", jenkins("Bearer "+jenkinsToken, []byte(`{"pr":`)), http.StatusBadRequest, "JSON"},
		{"wrong jenkins token", jenkins("Bearer nope", []byte(`{}`)), http.StatusUnauthorized, "token"},
		{"pull request unknown", get("/api/v1/pulls/Codertocat/Hello-World/3"), http.StatusNotFound, "pull request"},
		{"pull request key malformed", get("/api/v1/pulls/Codertocat/Hello-World/two"), http.StatusBadRequest, "two"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, openPages, withJenkins)
			w := tc.send(h)
			if w.Code != tc.code {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.code, w.Body)
			}
			msg, _ := decode(t, w)["error"].(string)
			checkSentence(t, msg)
			if !strings.Contains(msg, tc.says) {
				t.Errorf("answer %q does not mention %q", msg, tc.says)
			}
		})
	}
}

// checkSentence fails unless msg starts with a capital, ends with a full
// stop, and carries no sentinel word left over from error wrapping.
func checkSentence(t *testing.T, msg string) {
	t.Helper()
	if msg == "" {
		t.Fatal("the answer names no error")
	}
	if r, _ := utf8.DecodeRuneInString(msg); !unicode.IsUpper(r) && !unicode.IsDigit(r) && r != '"' {
		t.Errorf("answer %q does not start a sentence", msg)
	}
	if !strings.HasSuffix(msg, ".") {
		t.Errorf("answer %q does not end a sentence", msg)
	}
	for _, s := range []error{gatekeeper.ErrInvalid, gatekeeper.ErrNotFound, gatekeeper.ErrUnauthorized, gatekeeper.ErrDuplicate, gatekeeper.ErrPolicy} {
		w := s.Error()
		if strings.HasSuffix(strings.TrimSuffix(msg, "."), ": "+w) || strings.Contains(msg, ": "+w+":") || strings.HasPrefix(msg, w+":") {
			t.Errorf("answer %q carries the sentinel word %q", msg, w)
		}
	}
}

// TestDeliveryLogNamesItsSource: a Jenkins delivery's log line says
// Jenkins, not GitHub, so that an operator reading the log looks in the
// right place.
func TestDeliveryLogNamesItsSource(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withJenkins)
	r := httptest.NewRequest(http.MethodPost, "/webhooks/jenkins", bytes.NewReader([]byte(`{"pr": 2, "number": 7, "head": "`+helloHead+`"}`)))
	r.Header.Set("Authorization", "Bearer "+jenkinsToken)
	w := httptest.NewRecorder()
	h.handler.ServeHTTP(w, r)
	if w.Code != http.StatusAccepted {
		t.Fatalf("jenkins: status %d: %s", w.Code, w.Body)
	}
	if w := h.deliver(t, "pull_request", "delivery-1", readFixture(t, "pull_request.opened.json")); w.Code != http.StatusAccepted {
		t.Fatalf("github: status %d: %s", w.Code, w.Body)
	}
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(h.logs.String()), "\n") {
		var rec struct {
			Msg, Source, Delivery string
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if strings.HasSuffix(rec.Msg, "delivery") {
			got[rec.Delivery] = rec.Msg + " source=" + rec.Source
		}
	}
	want := map[string]string{
		"jenkins:PR-2#7": "jenkins delivery source=jenkins",
		"delivery-1":     "github delivery source=github",
	}
	for id, line := range want {
		if got[id] != line {
			t.Errorf("delivery %s logged as %q, want %q", id, got[id], line)
		}
	}
}

// TestWebhookPathsAnswer405: a GET on a webhook path (a newcomer's first
// try with a browser or curl) is 405 with an Allow header, not a 404 that
// suggests the path is wrong.
func TestWebhookPathsAnswer405(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withJenkins)
	for _, path := range []string{"/webhooks/github", "/webhooks/jenkins"} {
		for _, method := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
			w := httptest.NewRecorder()
			h.handler.ServeHTTP(w, httptest.NewRequest(method, path, nil))
			if w.Code != http.StatusMethodNotAllowed {
				t.Errorf("%s %s: status %d, want 405", method, path, w.Code)
				continue
			}
			if got := w.Header().Get("Allow"); got != http.MethodPost {
				t.Errorf("%s %s: Allow %q, want POST", method, path, got)
			}
			checkSentence(t, mustError(t, w))
		}
	}
	if w := h.get(t, "/no/such/path"); w.Code != http.StatusNotFound {
		t.Errorf("an unknown path: status %d, want 404", w.Code)
	}
	// The routes still answer their own method.
	if w := h.deliver(t, "ping", "d-1", []byte(`{"zen":"Keep it logically awesome."}`)); w.Code != http.StatusOK {
		t.Errorf("ping: status %d: %s", w.Code, w.Body)
	}
}

func mustError(t *testing.T, w *httptest.ResponseRecorder) string {
	t.Helper()
	msg, _ := decode(t, w)["error"].(string)
	return msg
}
