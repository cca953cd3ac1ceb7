package webhooks_test

import (
	"bytes"
	"context"
	"encoding/json"
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

// TestPreviewRowsOnlyWhatTheViewerMayRead: the rows of a preview are the
// open release pull requests of repositories the viewer may read; one of
// a repository GitHub does not show them is not evaluated, not named.
func TestPreviewRowsOnlyWhatTheViewerMayRead(t *testing.T) {
	t.Parallel()
	r := newAuthRig(t, "https://gate.example", testKey)
	ctx := context.Background()
	secret := gatekeeper.PullKey{Owner: "acme", Repo: "secret", Number: 1}
	err := r.store.Record(ctx, "secret-pr", []gatekeeper.PullKey{secret}, func(ev *gatekeeper.Evidence) {
		ev.PR = &gatekeeper.PullRequest{Key: secret, Title: "Secret release", State: "open", HeadRef: "staging", BaseRef: "master", HeadSHA: strings.Repeat("b", 40)}
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []gatekeeper.PullKey{{Owner: "Codertocat", Repo: "Hello-World", Number: 2}, secret} {
		if err := r.store.AddDecision(ctx, gatekeeper.DecisionRecord{Key: k, Decision: gatekeeper.Decision{State: gatekeeper.Pending}}); err != nil {
			t.Fatal(err)
		}
	}
	body := `{"files": {"decision.rego": "package gatekeeper\n\ndecision := {\"state\": \"failure\", \"reasons\": [\"frozen\"], \"waiting\": [], \"channel\": null}\n"}}`
	req := httptest.NewRequest(http.MethodPost, "/api/v1/preview", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+r.fake.Token("alice"))
	w := httptest.NewRecorder()
	r.handler.ServeHTTP(w, req)
	var res webhooks.PreviewResult
	if err := json.Unmarshal(w.Body.Bytes(), &res); err != nil || w.Code != http.StatusOK {
		t.Fatalf("preview: %d %s", w.Code, w.Body)
	}
	if len(res.Rows) != 1 || res.Rows[0].Key.Repo != "Hello-World" || res.Rows[0].Candidate.State != gatekeeper.Failure || !res.Rows[0].Flips || res.Flips != 1 {
		t.Errorf("rows %+v, want Hello-World#2 alone, flipping to failure", res.Rows)
	}
	if strings.Contains(w.Body.String(), "Secret release") || strings.Contains(w.Body.String(), "acme/secret") {
		t.Errorf("the preview names a pull request alice may not read: %s", w.Body)
	}
}
