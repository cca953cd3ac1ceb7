package test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/releasegate/gatekeeper/gatekeeper/githubauth/githubauthtest"
)

const (
	samplePage  = "/pulls/Codertocat/Hello-World/2"
	sampleAPI   = "/api/v1/pulls/Codertocat/Hello-World/2"
	sampleTitle = "Update the README with new information."
	sessionKey  = "e2e-session-key-0123456789abcdef0123"
)

// get asks the server for path with client and optional headers ("Name:
// value"); it returns the status, the Location and the body.
func get(t *testing.T, client *http.Client, url string, headers ...string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(b)
}

// browser is a client with its own cookies that follows redirects, as a
// person's browser does.
func browser(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 10 * time.Second}
}

// noFollow shows redirects instead of following them.
var noFollow = &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// TestSignInEndToEnd runs the binary with sign-in with GitHub against a fake
// GitHub (OAuth web flow and REST) where the sample repository is private
// and only alice may read it.
func TestSignInEndToEnd(t *testing.T) {
	gh := githubauthtest.NewServer(t)
	var payload struct {
		Repository map[string]any `json:"repository"`
	}
	if err := json.Unmarshal(fixture(t, "github/pull_request.opened.json"), &payload); err != nil {
		t.Fatal(err)
	}
	gh.AddRepo("Codertocat/Hello-World", payload.Repository, true, "alice")
	s := startServer(t, serverOptions{extra: []string{
		"GITHUB_API_URL=" + gh.APIURL(), // no GITHUB_TOKEN: dry run; GitHub only signs people in
		"GITHUB_OAUTH_CLIENT_ID=" + githubauthtest.ClientID,
		"GITHUB_OAUTH_CLIENT_SECRET=" + githubauthtest.ClientSecret,
		"GATEKEEPER_SESSION_KEY=" + sessionKey,
	}})
	if code, body := s.deliver("pull_request", "signin-1", fixture(t, "github/pull_request.opened.json")); code != http.StatusAccepted {
		t.Fatalf("webhook with sign-in on: %d %s", code, body)
	}
	alice, bob := gh.Token("alice"), gh.Token("bob")

	t.Run("no sign-in", func(t *testing.T) {
		code, loc, body := get(t, noFollow, s.url(samplePage))
		if code != http.StatusFound || !strings.HasPrefix(loc, "/auth/login?next=") || strings.Contains(body, sampleTitle) {
			t.Errorf("page: %d, Location %q; want a redirect to sign in", code, loc)
		}
		code, _, body = get(t, noFollow, s.url(sampleAPI))
		if code != http.StatusUnauthorized || strings.Contains(body, sampleTitle) {
			t.Errorf("API: %d %s; want 401", code, body)
		}
	})

	t.Run("bearer token", func(t *testing.T) {
		// Wait until the sample is evaluated, reading as alice.
		eventually(t, "the sample's first decision", func() bool {
			code, _, body := get(t, noFollow, s.url(sampleAPI), "Authorization: Bearer "+alice)
			return code == http.StatusOK && strings.Contains(body, `"latest_decision":{`)
		})
		tests := []struct {
			name, header string
			want         int
		}{
			{"alice can read the repository", "Bearer " + alice, http.StatusOK},
			{"bob cannot", "Bearer " + bob, http.StatusNotFound},
			{"a token GitHub does not know", "Bearer gho_forged", http.StatusUnauthorized},
		}
		for _, tt := range tests {
			code, _, body := get(t, noFollow, s.url(sampleAPI), "Authorization: "+tt.header)
			if code != tt.want {
				t.Errorf("%s: %d, want %d; %s", tt.name, code, tt.want, body)
			}
			if code == http.StatusOK != strings.Contains(body, sampleTitle) {
				t.Errorf("%s: %d, title shown: %v", tt.name, code, strings.Contains(body, sampleTitle))
			}
		}
	})

	t.Run("alice signs in", func(t *testing.T) {
		gh.SignIn("alice")
		b := browser(t)
		code, _, body := get(t, b, s.url(samplePage))
		if code != http.StatusOK || !strings.Contains(body, sampleTitle) || !strings.Contains(body, "Signed in as <b>alice</b>") {
			t.Fatalf("after signing in: %d; want the page; body %s", code, body)
		}
		// The session serves the API too, and logout ends it.
		if code, _, _ := get(t, b, s.url(sampleAPI)); code != http.StatusOK {
			t.Errorf("API with alice's session: %d", code)
		}
		get(t, b, s.url("/auth/logout"))
		if code, loc, _ := get(t, &http.Client{Jar: b.Jar, CheckRedirect: noFollow.CheckRedirect}, s.url(samplePage)); code != http.StatusFound {
			t.Errorf("after sign-out: %d %q, want a redirect to sign in", code, loc)
		}
	})

	t.Run("bob signs in", func(t *testing.T) {
		gh.SignIn("bob")
		code, _, body := get(t, browser(t), s.url(samplePage))
		if code != http.StatusNotFound || strings.Contains(body, sampleTitle) {
			t.Errorf("bob's page: %d; want 404 without the title", code)
		}
	})

	t.Run("sign-in with a forged state", func(t *testing.T) {
		gh.SignIn("mallory")
		// mallory starts a sign-in in her browser, and gets someone else's
		// browser to finish it: the state cookie is not there.
		code, loc, _ := get(t, noFollow, s.url("/auth/login?next=/"))
		if code != http.StatusFound {
			t.Fatalf("/auth/login: %d", code)
		}
		code, back, _ := get(t, noFollow, loc)
		if code != http.StatusFound {
			t.Fatalf("GitHub's authorize page: %d", code)
		}
		code, _, _ = get(t, browser(t), back)
		if code != http.StatusBadRequest {
			t.Errorf("callback without the state cookie: %d, want 400", code)
		}
	})

	if !strings.Contains(s.Logs(), "pages and API need sign-in with GitHub") {
		t.Errorf("the log does not say sign-in is on:\n%s", s.Logs())
	}
	if strings.Contains(s.Logs(), alice) || strings.Contains(s.Logs(), sessionKey) {
		t.Error("the log shows a token or the session key")
	}
}

// TestPagesWithoutSignIn: without OAuth settings, pages are served on a
// loopback address only, with a banner; elsewhere they answer 401 while
// webhooks work; GATEKEEPER_UI_AUTH=none opens them, with a warning.
func TestPagesWithoutSignIn(t *testing.T) {
	sample := fixture(t, "github/pull_request.opened.json")
	t.Run("loopback", func(t *testing.T) {
		s := startServer(t, serverOptions{})
		s.deliver("pull_request", "loopback-1", sample)
		code, _, body := get(t, noFollow, s.url(samplePage))
		if code != http.StatusOK || !strings.Contains(body, sampleTitle) || !strings.Contains(body, "Sign-in is not configured") {
			t.Errorf("page: %d; want it with the no-sign-in banner; body %s", code, body)
		}
		if !strings.Contains(s.Logs(), "on this loopback address only") {
			t.Errorf("the log does not say pages are served on loopback only:\n%s", s.Logs())
		}
	})
	t.Run("every interface", func(t *testing.T) {
		addr := freeAddr(t)
		_, port, _ := net.SplitHostPort(addr)
		// Bound on every interface; the test talks to it on 127.0.0.1
		// only, and it still refuses: the address bound is what counts.
		s := startServer(t, serverOptions{addr: addr, extra: []string{"GATEKEEPER_ADDR=:" + port}})
		if code, body := s.deliver("pull_request", "open-1", sample); code != http.StatusAccepted {
			t.Fatalf("webhook: %d %s, want 202", code, body)
		}
		for _, path := range []string{samplePage, sampleAPI} {
			code, _, body := get(t, noFollow, s.url(path))
			if code != http.StatusUnauthorized || !strings.Contains(body, "sign-in is not configured") || strings.Contains(body, sampleTitle) {
				t.Errorf("%s: %d %s; want 401 saying sign-in is not configured", path, code, body)
			}
		}
		for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
			code, _, body := get(t, noFollow, s.url(path))
			if code != http.StatusOK || strings.Contains(body, "Hello-World") {
				t.Errorf("%s: %d, or it names the repository", path, code)
			}
		}
		if !strings.Contains(s.Logs(), "answer 401 on this address") {
			t.Errorf("the log does not warn:\n%s", s.Logs())
		}
	})
	t.Run("behind an authenticating proxy", func(t *testing.T) {
		addr := freeAddr(t)
		_, port, _ := net.SplitHostPort(addr)
		s := startServer(t, serverOptions{addr: addr, extra: []string{"GATEKEEPER_ADDR=:" + port, "GATEKEEPER_UI_AUTH=none"}})
		s.deliver("pull_request", "proxy-1", sample)
		code, _, body := get(t, noFollow, s.url(samplePage))
		if code != http.StatusOK || strings.Contains(body, "Sign-in is not configured") {
			t.Errorf("page: %d; want it, without the banner", code)
		}
		if !strings.Contains(s.Logs(), `"level":"WARN","msg":"GATEKEEPER_UI_AUTH=none`) {
			t.Errorf("no warning at start:\n%s", s.Logs())
		}
	})
	t.Run("half the settings", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, binary, "serve")
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "GATEKEEPER_ADDR=" + freeAddr(t), "GATEKEEPER_WEBHOOK_SECRET=" + secret,
			"GATEKEEPER_POLICIES=../policies", "GATEKEEPER_STORE=bolt://" + filepath.Join(t.TempDir(), "g.db"), "GITHUB_OAUTH_CLIENT_ID=x"}
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "missing GITHUB_OAUTH_CLIENT_SECRET, GATEKEEPER_SESSION_KEY") {
			t.Errorf("serve with the client id alone: %v\n%s", err, out)
		}
	})
}
