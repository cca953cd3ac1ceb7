package test

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestAttackLoopbackPagesFromAfar: without sign-in the pages and API are
// served on a loopback address only. A web page the victim opens can make
// the victim's browser ask 127.0.0.1 under its own name (DNS rebinding),
// and a proxy on the machine can forward strangers to it. Neither may read
// a pull request; a plain local request still can, and /healthz, /readyz
// and /metrics carry no pull request content.
func TestAttackLoopbackPagesFromAfar(t *testing.T) {
	t.Parallel()
	gh := newFakeGitHub(t)
	s := startServer(t, serverOptions{github: gh})
	payload := fixture(t, "github/pull_request.opened.json")
	if code, body := s.deliver("pull_request", "afar-1", payload); code != http.StatusAccepted {
		t.Fatalf("opened: %d %s", code, body)
	}
	s.settled("Codertocat", "Hello-World", 2)
	title := "Update the README with new information"
	for _, path := range []string{"/api/v1/pulls/Codertocat/Hello-World/2", "/pulls/Codertocat/Hello-World/2"} {
		if code, _, body := get(t, noFollow, s.url(path)); code != http.StatusOK || !strings.Contains(body, title) {
			t.Fatalf("%s from this machine: %d, want 200 with the title (the test means nothing otherwise)", path, code)
		}
		for _, h := range [][]string{
			{"Host: attacker.example"},
			{"Host: attacker.example:80"},
			{"Host: 127.0.0.1.nip.io"},
			{"Host: localhost.attacker.example"},
			{"X-Forwarded-For: 203.0.113.9"},
			{"Forwarded: for=203.0.113.9"},
			{"X-Real-IP: 203.0.113.9"},
		} {
			code, body := getAs(t, s.url(path), h[0])
			if code != http.StatusUnauthorized || strings.Contains(body, title) {
				t.Errorf("%s with %q: %d, want 401 without the title\n%.300s", path, h, code, body)
			}
		}
	}
	for _, path := range []string{"/healthz", "/readyz", "/metrics", "/nothing-here", "/api/v1/pulls/Codertocat/Hello-World/3"} {
		_, body := getAs(t, s.url(path), "Host: attacker.example")
		for _, private := range []string{title, "Codertocat/Hello-World", "This is a pretty simple change"} {
			if strings.Contains(body, private) {
				t.Errorf("%s shows %q to a stranger", path, private)
			}
		}
	}
}

// getAs asks url with one header ("Name: value"); a Host header names the
// request's host, as a browser under another name sends it.
func getAs(t *testing.T, url, header string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	k, v, _ := strings.Cut(header, ": ")
	if k == "Host" {
		req.Host = v
	} else {
		req.Header.Set(k, v)
	}
	resp, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
