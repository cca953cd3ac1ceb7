package test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/releasegate/gatekeeper/gatekeeper/githubauth/githubauthtest"
)

// chromium finds a Chromium to drive: Debian's chromium (test/chromium.sh
// installs it), or $GATEKEEPER_CHROMIUM. Without one the browser tests
// skip with a clear message, except where GATEKEEPER_REQUIRE_CHROMIUM or
// CI is set (make test sources test/chromium.sh, which sets it): there a
// missing browser is a failure, not a silent skip.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("GATEKEEPER_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "no Chromium on PATH (install Debian's chromium, or run test/chromium.sh, or set GATEKEEPER_CHROMIUM)"
	if os.Getenv("GATEKEEPER_REQUIRE_CHROMIUM") != "" || os.Getenv("CI") != "" {
		t.Fatal(msg + "; it is required here (GATEKEEPER_REQUIRE_CHROMIUM or CI is set)")
	}
	t.Skip(msg)
	return ""
}

// artifacts is where the browser tests keep their screenshots:
// $GATEKEEPER_ARTIFACTS, else test/artifacts (ignored by git).
func artifacts(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("GATEKEEPER_ARTIFACTS")
	if dir == "" {
		dir = "artifacts"
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestBoardInChromium runs the binary with sign-in with GitHub (a fake
// GitHub where only alice may read the private sample repository) and the
// shipped policy naming qa-carol as QA, and drives the board and the
// details page in real headless Chromium: alice signs in through the fake
// OAuth flow, sees the release's row and its role matrix as the evidence
// says, watches the row change without a reload when a NOGO arrives by
// webhook, and reads the board on a phone-sized screen.
func TestBoardInChromium(t *testing.T) {
	exe := chromium(t)
	gh := githubauthtest.NewServer(t)
	var payload struct {
		Repository map[string]any `json:"repository"`
	}
	if err := json.Unmarshal(fixture(t, "github/pull_request.opened.json"), &payload); err != nil {
		t.Fatal(err)
	}
	gh.AddRepo("Codertocat/Hello-World", payload.Repository, true, "alice")
	gh.SignIn("alice")

	// The shipped policy, its window off (policyCopy), with qa-carol and
	// lead-bob holding QA and module lead by name.
	policies := policyCopy(t)
	data := filepath.Join(policies, "data.yaml")
	b, err := os.ReadFile(data)
	if err != nil {
		t.Fatal(err)
	}
	yaml := string(b)
	for from, to := range map[string]string{
		"users: []  # add a login: users: [qa-frank]":   "users: [qa-carol]",
		"users: []  # add a login: users: [lead-frank]": "users: [lead-bob]",
	} {
		if !strings.Contains(yaml, from) {
			t.Fatalf("policies/data.yaml has no %q to edit", from)
		}
		yaml = strings.Replace(yaml, from, to, 1)
	}
	if err := os.WriteFile(data, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, serverOptions{policies: policies, extra: []string{
		"GITHUB_API_URL=" + gh.APIURL(),
		"GITHUB_OAUTH_CLIENT_ID=" + githubauthtest.ClientID,
		"GITHUB_OAUTH_CLIENT_SECRET=" + githubauthtest.ClientSecret,
		"GATEKEEPER_SESSION_KEY=" + sessionKey,
	}})
	head := "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
	openedPR, pr := opened(t, 2, head, releaseBody)
	review, _ := approval(t, pr, 9101, "qa-carol", head, "2030-01-01T10:00:00Z")
	goQA, _ := comment(t, 2, 9201, "qa-carol", "/go", "2030-01-01T10:01:00Z")
	goZoe, _ := comment(t, 2, 9202, "dev-zoe", "/go", "2030-01-01T10:02:00Z")
	for i, d := range []struct {
		event string
		body  []byte
	}{{"pull_request", openedPR}, {"pull_request_review", review}, {"issue_comment", goQA}, {"issue_comment", goZoe}} {
		if code, body := s.deliver(d.event, "board-"+string(rune('a'+i)), d.body); code != http.StatusAccepted {
			t.Fatalf("%s: %d %s", d.event, code, body)
		}
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1400, 1000))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	browserCtx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(cancelBrowser)
	// The first run starts the browser, on a context without a deadline
	// (a deadline there would stop the browser); every step after it has
	// its own.
	if err := chromedp.Do(browserCtx); err != nil {
		t.Fatalf("starting %s: %v", exe, err)
	}
	step := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		ctx, cancel := context.WithTimeout(browserCtx, 30*time.Second)
		defer cancel()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v\nserver logs:\n%s", what, err, s.Logs())
		}
	}
	text := func(sel string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(browserCtx, 10*time.Second)
		defer cancel()
		v, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("reading %s: %v", sel, err)
		}
		return v
	}
	eval := func(expr string) any {
		t.Helper()
		ctx, cancel := context.WithTimeout(browserCtx, 10*time.Second)
		defer cancel()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[any](expr))
		if err != nil {
			t.Fatalf("evaluating %s: %v", expr, err)
		}
		return v
	}
	dir := artifacts(t)
	shot := func(name string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(browserCtx, 20*time.Second)
		defer cancel()
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	const row = `tr[id="pr-Codertocat-Hello-World-2"]`
	// Signing in: the board sends alice to GitHub's (fake) consent page,
	// which sends her back signed in, to the board. The evaluation on all
	// the evidence puts both votes on the row.
	step("the board in Chromium",
		chromedp.Navigate(s.url("/")),
		chromedp.WaitVisible(chromedp.CSS(row)),
		chromedp.WaitVisible(chromedp.CSS(row+` tr.not-counted[data-user="dev-zoe"]`)),
		chromedp.WaitVisible(chromedp.CSS(row+` tr[data-role="qa"] .holder[data-user="qa-carol"][data-approved="true"][data-vote="go"]`)),
		chromedp.WaitReady(chromedp.CSS(`body[data-live="ready"]`)),
	)
	shot("board.png")
	if url := eval(`location.href`); url != s.url("/") {
		t.Errorf("after signing in the browser is at %v, want the board", url)
	}
	if meta := text(`p.meta`); !strings.Contains(meta, "signed in as alice") {
		t.Errorf("the board's header: %q, want alice signed in", meta)
	}
	if qa := text(row + ` tr[data-role="qa"]`); !strings.Contains(qa, "qa-carol approved GO") {
		t.Errorf("QA's row of the matrix: %q, want qa-carol approved GO", qa)
	}
	if zoe := text(row + ` tr.not-counted`); !strings.Contains(zoe, "dev-zoe GO · not counted") {
		t.Errorf("dev-zoe's vote: %q, want not counted", zoe)
	}

	// A NOGO by QA arrives by webhook: the row changes in place, the page
	// is not reloaded (the mark set on it survives).
	eval(`window.__notReloaded = true`)
	nogo, _ := comment(t, 2, 9203, "qa-carol", "/nogo smoke tests red", "2030-01-01T10:03:00Z")
	sent := time.Now()
	if code, body := s.deliver("issue_comment", "board-nogo", nogo); code != http.StatusAccepted {
		t.Fatalf("the NOGO: %d %s", code, body)
	}
	step("the row after a NOGO", chromedp.WaitVisible(chromedp.CSS(row+` .holder[data-user="qa-carol"][data-vote="nogo"]`)))
	took := time.Since(sent)
	shot("board-after-nogo.png")
	t.Logf("the row showed the NOGO %v after the webhook", took.Round(time.Millisecond))
	if took > 10*time.Second {
		t.Errorf("the row took %v to change, want seconds", took)
	}
	if eval(`window.__notReloaded === true`) != true {
		t.Error("the page was reloaded; want the row changed in place")
	}
	if veto := text(row + ` tr[data-role="qa"]`); !strings.Contains(veto, "VETO smoke tests red") {
		t.Errorf("QA's row after the NOGO: %q, want a veto with its reason", veto)
	}

	// A phone: the board's rows become labelled cards, nothing wider than
	// the screen.
	step("the board on a phone",
		chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(3), chromedp.EmulateMobile),
		chromedp.Reload(),
		chromedp.WaitVisible(chromedp.CSS(row)),
	)
	shot("board-phone.png")
	// A mobile layout viewport widens to fit what overflows it, so ask
	// each element where it ends rather than the page how wide it is.
	if right := eval(`Math.max(...[...document.querySelectorAll('body *')].map(e => e.getBoundingClientRect().right))`); right.(float64) > 390.5 {
		t.Errorf("on a 390px screen the board reaches %v px", right)
	}
	if label := eval(`getComputedStyle(document.querySelector('td[data-label="state"]'), '::before').content`); label != `"state"` {
		t.Errorf("on a phone the cells are not labelled: ::before is %v", label)
	}

	// The details page: the same matrix and strip, the vote without a role
	// not counted, times in the window's zone.
	step("the details page",
		chromedp.ResetViewport(),
		chromedp.Click(chromedp.CSS(row+` a[href="/pulls/Codertocat/Hello-World/2"]`)),
		chromedp.WaitVisible(chromedp.CSS(`table.matrix`)),
	)
	shot("details.png")
	if n := eval(`document.querySelectorAll('ol.strip li[data-stage]').length`); n != float64(7) {
		t.Errorf("the details page's stage strip has %v stages, want 7", n)
	}
	if zoe := text(`tr.not-counted[data-user="dev-zoe"]`); !strings.Contains(zoe, "not counted") {
		t.Errorf("dev-zoe on the details page: %q", zoe)
	}
	if body := text(`body`); !strings.Contains(body, " IST") || strings.Contains(body, " UTC") {
		t.Error("the details page does not show its times in IST")
	}
	t.Logf("screenshots in %s", dir)
}

// TestBoardStreamDoesNotHoldShutdown: a board left open (its event stream
// never ends by itself) does not make SIGTERM wait: the stream ends when
// shutdown begins and the process exits promptly.
func TestBoardStreamDoesNotHoldShutdown(t *testing.T) {
	s := startServer(t, serverOptions{}) // loopback: the board needs no sign-in here
	resp, err := http.Get(s.url("/board/events"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("/board/events: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	buf := make([]byte, 256)
	if n, err := resp.Body.Read(buf); err != nil || !strings.Contains(string(buf[:n]), "event: ready") {
		t.Fatalf("the stream starts with %q, %v; want the ready event", buf[:n], err)
	}
	start := time.Now()
	s.stop(syscall.SIGTERM)
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("shutting down with a board open took %v; the stream held it", took)
	}
	if _, err := io.ReadAll(resp.Body); err != nil {
		t.Logf("the stream ended with %v", err)
	}
}
