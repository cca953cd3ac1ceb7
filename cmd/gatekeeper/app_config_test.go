package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"path/filepath"
	"strings"
	"testing"
)

// testKeyPEM is an RSA key made for the test, as GitHub hands App keys out
// (PKCS#1 PEM); no key is committed.
func testKeyPEM(t *testing.T) string {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}))
}

// TestLoadConfigGitHubApp: a GitHub App is GITHUB_APP_ID with its key from
// GITHUB_APP_PRIVATE_KEY or a file; a token and an App together, or half an
// App, are start-up errors listed with the other problems, and no error
// quotes the key.
func TestLoadConfigGitHubApp(t *testing.T) {
	t.Parallel()
	key := testKeyPEM(t)
	keyFile := filepath.Join(t.TempDir(), "app.pem")
	if err := writeFile(keyFile, key); err != nil {
		t.Fatal(err)
	}
	oneLine := strings.ReplaceAll(strings.TrimSpace(key), "\n", `\n`)
	tests := []struct {
		name    string
		env     map[string]string
		problem string // "" for a valid setting
	}{
		{"key in the environment", map[string]string{"GITHUB_APP_ID": "12345", "GITHUB_APP_PRIVATE_KEY": key}, ""},
		{"key from a file", map[string]string{"GITHUB_APP_ID": "12345", "GITHUB_APP_PRIVATE_KEY_FILE": keyFile}, ""},
		{"key on one line with \\n", map[string]string{"GITHUB_APP_ID": "12345", "GITHUB_APP_PRIVATE_KEY": oneLine}, ""},
		{"token and app", map[string]string{"GITHUB_TOKEN": "ghp_x", "GITHUB_APP_ID": "12345", "GITHUB_APP_PRIVATE_KEY": key}, "GITHUB_TOKEN and a GitHub App"},
		{"token and app key only", map[string]string{"GITHUB_TOKEN": "ghp_x", "GITHUB_APP_PRIVATE_KEY_FILE": keyFile}, "GITHUB_TOKEN and a GitHub App"},
		{"id without key", map[string]string{"GITHUB_APP_ID": "12345"}, "GITHUB_APP_PRIVATE_KEY (or GITHUB_APP_PRIVATE_KEY_FILE) is required"},
		{"key without id", map[string]string{"GITHUB_APP_PRIVATE_KEY": key}, "GITHUB_APP_ID is required"},
		{"id not a number", map[string]string{"GITHUB_APP_ID": "release-gate", "GITHUB_APP_PRIVATE_KEY": key}, "GITHUB_APP_ID: \"release-gate\""},
		{"key not a key", map[string]string{"GITHUB_APP_ID": "12345", "GITHUB_APP_PRIVATE_KEY": "hunter2-secret"}, "GITHUB_APP_PRIVATE_KEY: "},
		{"key file missing", map[string]string{"GITHUB_APP_ID": "12345", "GITHUB_APP_PRIVATE_KEY_FILE": keyFile + ".gone"}, "GITHUB_APP_PRIVATE_KEY_FILE"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := map[string]string{"GATEKEEPER_POLICIES": t.TempDir(), "GATEKEEPER_WEBHOOK_SECRET": "0123456789abcdef"}
			if tc.problem != "" {
				e["GATEKEEPER_LOG_LEVEL"] = "loud" // another problem, to be listed beside this one
			}
			for k, v := range tc.env {
				e[k] = v
			}
			c, err := LoadConfig(nil, env(e))
			if tc.problem == "" {
				if err != nil {
					t.Fatalf("LoadConfig: %v", err)
				}
				app := c.githubApp()
				if app == nil || app.ID != 12345 || strings.TrimSpace(string(app.PrivateKey)) != strings.TrimSpace(key) {
					t.Errorf("githubApp() = %+v", app)
				}
				if !c.githubAuth() || githubAuthKind(c) != "app 12345" {
					t.Errorf("githubAuth %v, kind %q", c.githubAuth(), githubAuthKind(c))
				}
				return
			}
			if err == nil {
				t.Fatal("want an error")
			}
			if !strings.Contains(err.Error(), tc.problem) || !strings.Contains(err.Error(), "GATEKEEPER_LOG_LEVEL") {
				t.Errorf("error does not list %q beside the other problem:\n%v", tc.problem, err)
			}
			if strings.Contains(err.Error(), "PRIVATE KEY-----") || strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error quotes the key:\n%v", err)
			}
		})
	}
}

// TestServeHelpListsGitHubApp: serve's help shows the App id flag and the
// key among the secrets, with its _FILE form.
func TestServeHelpListsGitHubApp(t *testing.T) {
	t.Parallel()
	code, out, errOut := runCmd(t, nil, "serve", "--help")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"-github-app-id", "env GITHUB_APP_ID", "GITHUB_APP_PRIVATE_KEY, GITHUB_APP_PRIVATE_KEY_FILE"} {
		if !strings.Contains(out, want) {
			t.Errorf("serve --help does not show %q:\n%s", want, out)
		}
	}
}
