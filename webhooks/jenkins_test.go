package webhooks_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/releasegate/gatekeeper/gatekeeper"
	"github.com/releasegate/gatekeeper/webhooks"
)

const jenkinsToken = "jenkins-shared-token"

// buildParser stands in for jenkinsapi.ParseNotification (tested in its own
// package and end to end): it reads a job number and a head, so that the
// receiver's own behaviour can be checked here.
func buildParser(body []byte) (gatekeeper.Event, bool, error) {
	var b struct {
		PR     int    `json:"pr"`
		Number int64  `json:"number"`
		Head   string `json:"head"`
	}
	if err := json.Unmarshal(body, &b); err != nil {
		return gatekeeper.Event{}, false, fmt.Errorf("decoding: %w: %w", gatekeeper.ErrInvalid, err)
	}
	if b.PR == 0 {
		return gatekeeper.Event{}, false, nil
	}
	return gatekeeper.Event{
		Delivery: fmt.Sprintf("jenkins:PR-%d#%d", b.PR, b.Number), Name: "jenkins.COMPLETED",
		Key: gatekeeper.PullKey{Owner: helloKey.Owner, Repo: helloKey.Repo, Number: b.PR}, SHA: b.Head,
		Build: &gatekeeper.Build{JobPath: fmt.Sprintf("job/Codertocat/job/Hello-World/job/PR-%d", b.PR), Number: b.Number, HeadSHA: b.Head},
	}, true, nil
}

func TestJenkinsReceiver(t *testing.T) {
	t.Parallel()
	withJenkins := func(o *webhooks.Options) {
		o.JenkinsToken = []byte(jenkinsToken)
		o.ParseJenkins = buildParser
	}
	build := []byte(`{"pr": 2, "number": 7, "head": "` + helloHead + `"}`)
	tests := []struct {
		name      string
		configure bool
		path      string
		auth      string
		body      []byte
		want      int
		result    string
		stored    int
	}{
		{"bearer token", true, "/webhooks/jenkins", "Bearer " + jenkinsToken, build, http.StatusAccepted, "accepted", 1},
		{"query token", true, "/webhooks/jenkins?token=" + jenkinsToken, "", build, http.StatusAccepted, "accepted", 1},
		{"wrong token", true, "/webhooks/jenkins", "Bearer nope", build, http.StatusUnauthorized, "", 0},
		{"basic auth is not the token", true, "/webhooks/jenkins", "Basic " + jenkinsToken, build, http.StatusUnauthorized, "", 0},
		{"no token", true, "/webhooks/jenkins", "", build, http.StatusUnauthorized, "", 0},
		{"receiver not configured", false, "/webhooks/jenkins?token=" + jenkinsToken, "", build, http.StatusUnauthorized, "", 0},
		{"malformed", true, "/webhooks/jenkins", "Bearer " + jenkinsToken, []byte(`{"pr":`), http.StatusBadRequest, "", 0},
		{"not a pull request job", true, "/webhooks/jenkins", "Bearer " + jenkinsToken, []byte(`{"number": 3}`), http.StatusAccepted, "ignored", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var h *harness
			if tc.configure {
				h = newHarness(t, withJenkins)
			} else {
				h = newHarness(t)
			}
			// The pull request is known from GitHub before its build reports.
			pr := gatekeeper.PullRequest{Key: helloKey, HeadRef: "changes", BaseRef: "master", HeadSHA: helloHead, State: "open"}
			if _, err := h.svc.Accept(context.Background(), gatekeeper.Event{Delivery: "seed", Name: "pull_request.opened", Key: helloKey, SHA: helloHead, PullRequest: &pr}); err != nil {
				t.Fatal(err)
			}
			seeded := h.stored()
			r := httptest.NewRequest(http.MethodPost, tc.path, bytes.NewReader(tc.body))
			r.Header.Set("Content-Type", "application/json;charset=UTF-8")
			if tc.auth != "" {
				r.Header.Set("Authorization", tc.auth)
			}
			w := httptest.NewRecorder()
			h.handler.ServeHTTP(w, r)
			if w.Code != tc.want {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.want, w.Body)
			}
			if tc.want == http.StatusUnauthorized {
				if got := decode(t, w)["error"]; got != "The token is missing or wrong." {
					t.Errorf("401 says %v, want it to name the token", got)
				}
			}
			if tc.result != "" {
				if got := decode(t, w)["result"]; got != tc.result {
					t.Errorf("result %v, want %s", got, tc.result)
				}
			}
			if got := h.stored() - seeded; got != tc.stored {
				t.Errorf("%d events stored, want %d", got, tc.stored)
			}
		})
	}
}

func FuzzJenkinsToken(f *testing.F) {
	f.Add(jenkinsToken)
	f.Add("")
	f.Add(jenkinsToken + "x")
	f.Fuzz(func(t *testing.T, got string) {
		h := newHarness(t, func(o *webhooks.Options) {
			o.JenkinsToken = []byte(jenkinsToken)
			o.ParseJenkins = buildParser
		})
		r := httptest.NewRequest(http.MethodPost, "/webhooks/jenkins", bytes.NewReader([]byte(`{"number":1}`)))
		r.Header.Set("Authorization", "Bearer "+got)
		w := httptest.NewRecorder()
		h.handler.ServeHTTP(w, r)
		if ok := w.Code != http.StatusUnauthorized; ok != (got == jenkinsToken) {
			t.Fatalf("token %q: status %d", got, w.Code)
		}
	})
}
