package webhooks_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/releasegate/gatekeeper/gatekeeper"
	"github.com/releasegate/gatekeeper/webhooks"
)

// TestPreviewRefuses: the preview takes a candidate only from someone
// signed in, within the size bound, as clean relative paths.
func TestPreviewRefuses(t *testing.T) {
	t.Parallel()
	r := newAuthRig(t, "https://gate.example", testKey)
	alice, bob := "Bearer "+r.fake.Token("alice"), "Bearer "+r.fake.Token("bob")
	if err := r.store.AddDecision(context.Background(), gatekeeper.DecisionRecord{Key: gatekeeper.PullKey{Owner: "Codertocat", Repo: "Hello-World", Number: 2},
		Decision: gatekeeper.Decision{State: gatekeeper.Pending}}); err != nil {
		t.Fatal(err)
	}
	post := func(body []byte, auth string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/api/v1/preview", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		w := httptest.NewRecorder()
		r.handler.ServeHTTP(w, req)
		return w
	}
	ok := `{"files": {"decision.rego": "package gatekeeper\n"}}`
	huge := `{"files": {"decision.rego": "` + strings.Repeat("x", webhooks.MaxPreviewBody) + `"}}`
	tests := []struct {
		name, body, auth string
		want             int
	}{
		{"nobody signed in", ok, "", http.StatusUnauthorized},
		{"someone who may read no gated repository runs nothing", ok, bob, http.StatusNotFound},
		{"over the bound", huge, alice, http.StatusRequestEntityTooLarge},
		{"not JSON", "decision.rego", alice, http.StatusBadRequest},
		{"no files", `{"files": {}}`, alice, http.StatusBadRequest},
		{"a path out of the folder", `{"files": {"../../etc/x.rego": "package gatekeeper\n"}}`, alice, http.StatusBadRequest},
	}
	for _, tt := range tests {
		if w := post([]byte(tt.body), tt.auth); w.Code != tt.want {
			t.Errorf("%s: %d %s, want %d", tt.name, w.Code, w.Body, tt.want)
		}
	}
}
