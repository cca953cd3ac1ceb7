package webhooks_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// publicFixtures holds byte-for-byte copies of the public GitHub webhook
// examples (shared/fixtures/public/data/github: octokit/webhooks and
// drone/go-scm), one folder per X-GitHub-Event.
const publicFixtures = fixtures + "/public"

// TestEveryPublicGitHubExampleIsAccepted posts every public event example,
// signed, to the real handler: a genuine GitHub payload is never a 400,
// whatever fields the gatekeeper ignores (GitHub's older check_run
// app.created_at, "2018-04-25 20:42:10", made go-github refuse the whole
// delivery).
func TestEveryPublicGitHubExampleIsAccepted(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join(publicFixtures, "*", "*", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 80 {
		t.Fatalf("%d public examples under %s, want the 80 copied", len(files), publicFixtures)
	}
	h := newHarness(t)
	for i, f := range files {
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		event := filepath.Base(filepath.Dir(f))
		name := strings.TrimPrefix(f, publicFixtures+"/")
		w := h.deliver(t, event, fmt.Sprintf("public-%d", i), body)
		if w.Code < 200 || w.Code > 299 {
			t.Errorf("%s (X-GitHub-Event: %s): %d %s", name, event, w.Code, w.Body.String())
		}
	}
}
