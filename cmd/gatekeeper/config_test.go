package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/releasegate/gatekeeper/gatekeeper/slackapi"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestLoadConfigDefaults(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c, err := LoadConfig(nil, env(map[string]string{
		"GATEKEEPER_WEBHOOK_SECRET": "0123456789abcdef",
		"GATEKEEPER_POLICIES":       dir,
	}))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{
		"addr": c.Addr, "url": c.PublicURL, "store": c.Store, "context": c.StatusContext,
		"gated": c.GatedBranches, "github": c.GitHubAPIURL, "level": c.LogLevel,
	}
	want := map[string]string{
		"addr": ":8080", "url": "http://localhost:8080", "store": "bolt://./data/gatekeeper.db",
		"context": "release-gate", "gated": "staging:master", "github": "https://api.github.com/", "level": "info",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
	if c.Workers != 4 || c.PolicyReload != 5*time.Second || c.Reconcile != time.Minute {
		t.Errorf("workers %d, reload %s, reconcile %s", c.Workers, c.PolicyReload, c.Reconcile)
	}
}

func TestLoadConfigFlagBeatsEnv(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c, err := LoadConfig([]string{"-addr", "127.0.0.1:9999", "-gated-branches", "release:main"}, env(map[string]string{
		"GATEKEEPER_WEBHOOK_SECRET": "0123456789abcdef",
		"GATEKEEPER_POLICIES":       dir,
		"GATEKEEPER_ADDR":           ":7000",
		"GATEKEEPER_GATED_BRANCHES": "staging:master",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:9999" || c.GatedBranches != "release:main" {
		t.Errorf("flags did not win: addr %q gated %q", c.Addr, c.GatedBranches)
	}
	if !c.gated.Gated("release", "main") || c.gated.Gated("staging", "master") {
		t.Errorf("gated pairs %v", c.gated)
	}
}

func TestLoadConfigSecretFromFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := dir + "/secret"
	if err := writeFile(file, "from-a-file-0123456789\n"); err != nil {
		t.Fatal(err)
	}
	c, err := LoadConfig(nil, env(map[string]string{
		"GATEKEEPER_WEBHOOK_SECRET_FILE": file,
		"GATEKEEPER_POLICIES":            dir,
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.WebhookSecret != "from-a-file-0123456789" {
		t.Errorf("secret %q", c.WebhookSecret)
	}
}

func TestLoadConfigReportsEveryProblem(t *testing.T) {
	t.Parallel()
	_, err := LoadConfig(nil, env(map[string]string{
		"GATEKEEPER_POLICIES":       "/does/not/exist",
		"GATEKEEPER_STORE":          "mongo://x",
		"GATEKEEPER_GATED_BRANCHES": "staging",
		"GATEKEEPER_PUBLIC_URL":     "not a url",
		"JENKINS_URL":               "https://jenkins.example",
		"JENKINS_USER":              "bot",
		"ZENHUB_API_URL":            "https://api.zenhub.com",
		"GATEKEEPER_RECONCILE":      "soon",
		"GATEKEEPER_LOG_LEVEL":      "loud",
	}))
	if err == nil {
		t.Fatal("want an error")
	}
	if n := strings.Count(err.Error(), "GATEKEEPER_RECONCILE"); n != 1 {
		t.Errorf("GATEKEEPER_RECONCILE reported %d times, want once:\n%v", n, err)
	}
	for _, want := range []string{
		"GATEKEEPER_WEBHOOK_SECRET is required",
		"GATEKEEPER_POLICIES",
		"GATEKEEPER_STORE",
		"GATEKEEPER_GATED_BRANCHES",
		"GATEKEEPER_PUBLIC_URL",
		"JENKINS_USER and JENKINS_API_TOKEN",
		"ZENHUB_API_TOKEN",
		"GATEKEEPER_RECONCILE",
		"GATEKEEPER_LOG_LEVEL",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s:\n%v", want, err)
		}
	}
}

func TestLoadConfigRedactsSecretURLs(t *testing.T) {
	t.Parallel()
	_, err := LoadConfig(nil, env(map[string]string{
		"GATEKEEPER_WEBHOOK_SECRET": "0123456789abcdef",
		"GATEKEEPER_POLICIES":       t.TempDir(),
		"SLACK_WEBHOOK_URL":         "ftp://hooks.slack.example/services/T000/B000/SECRETPART",
	}))
	if err == nil || strings.Contains(err.Error(), "SECRETPART") {
		t.Errorf("want an error that hides the URL path, got %v", err)
	}
}

// TestLoadConfigSlackURLAsTheNotifierDoes: a Slack URL the notifier would
// refuse at start-up (plain http, user information) is reported with the
// other settings, not alone after them; and the two agree on every URL.
func TestLoadConfigSlackURLAsTheNotifierDoes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		url  string
		ok   bool
	}{
		{"https", "https://hooks.slack.com/services/T000/B000/SECRETPART", true},
		{"http to a test server here", "http://127.0.0.1:8081/services/T000/B000/SECRETPART", true},
		{"plain http", "http://hooks.slack.com/services/T000/B000/SECRETPART", false},
		{"user information", "https://me:pw@hooks.slack.com/services/T000/B000/SECRETPART", false},
		{"not http at all", "ftp://hooks.slack.com/services/T000/B000/SECRETPART", false},
		{"no host", "https:///services/T000/B000/SECRETPART", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, notifierErr := slackapi.New(slackapi.Options{WebhookURL: tc.url})
			if (notifierErr == nil) != tc.ok {
				t.Fatalf("slackapi.New(%q): %v; the table is wrong", tc.url, notifierErr)
			}
			_, err := LoadConfig(nil, env(map[string]string{
				"GATEKEEPER_POLICIES":  t.TempDir(),
				"GATEKEEPER_LOG_LEVEL": "loud", // another problem: the Slack one must be listed beside it
				"SLACK_WEBHOOK_URL":    tc.url,
			}))
			if err == nil {
				t.Fatal("want an error")
			}
			if got := strings.Contains(err.Error(), "SLACK_WEBHOOK_URL"); got == tc.ok {
				t.Errorf("SLACK_WEBHOOK_URL reported: %v, want %v:\n%v", got, !tc.ok, err)
			}
			if !strings.Contains(err.Error(), "GATEKEEPER_LOG_LEVEL") || !strings.Contains(err.Error(), "GATEKEEPER_WEBHOOK_SECRET") {
				t.Errorf("the other problems are not all listed:\n%v", err)
			}
			if strings.Contains(err.Error(), "SECRETPART") || strings.Contains(err.Error(), "pw@") {
				t.Errorf("the error shows the secret URL:\n%v", err)
			}
		})
	}
}

func TestLoadConfigGitHubWritesPerMinute(t *testing.T) {
	t.Parallel()
	base := map[string]string{"GATEKEEPER_WEBHOOK_SECRET": "0123456789abcdef", "GATEKEEPER_POLICIES": t.TempDir()}
	for _, tt := range []struct {
		value   string
		want    int
		wantErr bool
	}{{"", 60, false}, {"30", 30, false}, {"80", 80, false}, {"81", 0, true}, {"-1", 0, true}, {"many", 0, true}} {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		if tt.value != "" {
			m["GATEKEEPER_GITHUB_WRITES_PER_MINUTE"] = tt.value
		}
		c, err := LoadConfig(nil, env(m))
		if tt.wantErr {
			if err == nil || !strings.Contains(err.Error(), "GATEKEEPER_GITHUB_WRITES_PER_MINUTE") {
				t.Errorf("%q: err = %v, want one naming GATEKEEPER_GITHUB_WRITES_PER_MINUTE", tt.value, err)
			}
			continue
		}
		if err != nil || c.GitHubWritesPerMinute != tt.want {
			t.Errorf("%q: %d, %v; want %d", tt.value, c.GitHubWritesPerMinute, err, tt.want)
		}
	}
	if b := githubBudget(60); b.WriteInterval != time.Second || b.WriteBurst != 15 {
		t.Errorf("githubBudget(60) = %+v, want 1s and a burst of 15", b)
	}
	if b := githubBudget(80); b.WriteInterval != 750*time.Millisecond || b.WriteBurst != 1 {
		t.Errorf("githubBudget(80) = %+v, want 750ms and no burst", b)
	}
}

func TestLoadConfigGitHubHooks(t *testing.T) {
	t.Parallel()
	base := map[string]string{"GATEKEEPER_WEBHOOK_SECRET": "0123456789abcdef", "GATEKEEPER_POLICIES": t.TempDir()}
	for _, tt := range []struct {
		hooks, sweep string
		want         string // the hooks parsed, or the setting an error names
		wantErr      bool
	}{
		{"", "", "[]", false},
		{"octo-org/app=42, octo-org/lib=7,octo-org/app=42", "1m", "[octo-org/app=42 octo-org/lib=7]", false},
		{"octo-org/app", "", "GATEKEEPER_GITHUB_HOOKS", true},
		{"octo-org=42", "", "GATEKEEPER_GITHUB_HOOKS", true},
		{"octo-org/app/x=42", "", "GATEKEEPER_GITHUB_HOOKS", true},
		{"octo-org/app=0", "", "GATEKEEPER_GITHUB_HOOKS", true},
		{"octo-org/app=abc", "", "GATEKEEPER_GITHUB_HOOKS", true},
		{"", "1s", "GATEKEEPER_DELIVERY_SWEEP", true},
	} {
		m := map[string]string{"GATEKEEPER_GITHUB_HOOKS": tt.hooks}
		if tt.sweep != "" {
			m["GATEKEEPER_DELIVERY_SWEEP"] = tt.sweep
		}
		for k, v := range base {
			m[k] = v
		}
		c, err := LoadConfig(nil, env(m))
		if tt.wantErr {
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("%q %q: err = %v, want one naming %s", tt.hooks, tt.sweep, err, tt.want)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tt.hooks, err)
			continue
		}
		if got := fmt.Sprint(c.hooks); got != tt.want && !(tt.want == "[]" && c.hooks == nil) {
			t.Errorf("%q: hooks %s, want %s", tt.hooks, got, tt.want)
		}
		if tt.sweep == "" && c.DeliverySweep != 5*time.Minute {
			t.Errorf("default sweep %s, want 5m", c.DeliverySweep)
		}
	}
}
