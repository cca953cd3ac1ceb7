package main

import (
	"bytes"
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/releasegate/gatekeeper/webhooks"
)

const goodKey = "0123456789abcdef0123456789abcdef"

func TestSignInSettings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		env     map[string]string
		wantErr []string // substrings; none: valid
		want    string   // GATEKEEPER_UI_AUTH in force
	}{
		{name: "none of them", want: "github"},
		{name: "all three", env: map[string]string{"GITHUB_OAUTH_CLIENT_ID": "Iv1.x", "GITHUB_OAUTH_CLIENT_SECRET": "s", "GATEKEEPER_SESSION_KEY": goodKey}, want: "github"},
		{name: "the id alone", env: map[string]string{"GITHUB_OAUTH_CLIENT_ID": "Iv1.x"},
			wantErr: []string{"together", "missing GITHUB_OAUTH_CLIENT_SECRET, GATEKEEPER_SESSION_KEY"}},
		{name: "no key", env: map[string]string{"GITHUB_OAUTH_CLIENT_ID": "Iv1.x", "GITHUB_OAUTH_CLIENT_SECRET": "s"},
			wantErr: []string{"missing GATEKEEPER_SESSION_KEY"}},
		{name: "a short key", env: map[string]string{"GITHUB_OAUTH_CLIENT_ID": "Iv1.x", "GITHUB_OAUTH_CLIENT_SECRET": "s", "GATEKEEPER_SESSION_KEY": "short"},
			wantErr: []string{"GATEKEEPER_SESSION_KEY is shorter than 32 characters"}},
		{name: "opted out", env: map[string]string{"GATEKEEPER_UI_AUTH": "none"}, want: "none"},
		{name: "opted out and configured", env: map[string]string{"GATEKEEPER_UI_AUTH": "none", "GITHUB_OAUTH_CLIENT_ID": "Iv1.x", "GITHUB_OAUTH_CLIENT_SECRET": "s", "GATEKEEPER_SESSION_KEY": goodKey},
			wantErr: []string{"GATEKEEPER_UI_AUTH=none turns sign-in off"}},
		{name: "unknown mode", env: map[string]string{"GATEKEEPER_UI_AUTH": "basic"}, wantErr: []string{`GATEKEEPER_UI_AUTH: "basic"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := map[string]string{"GATEKEEPER_WEBHOOK_SECRET": "0123456789abcdef", "GATEKEEPER_POLICIES": t.TempDir()}
			for k, v := range tt.env {
				e[k] = v
			}
			c, err := LoadConfig(nil, env(e))
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if c.UIAuth != tt.want {
					t.Errorf("UIAuth = %q, want %q", c.UIAuth, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatal("want an error")
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q:\n%v", w, err)
				}
			}
			if strings.Contains(err.Error(), goodKey) {
				t.Errorf("error shows the session key:\n%v", err)
			}
		})
	}
}

func TestSignInSecretsFromFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := writeFile(dir+"/secret", "client-secret\n"); err != nil {
		t.Fatal(err)
	}
	if err := writeFile(dir+"/key", goodKey+"\n"); err != nil {
		t.Fatal(err)
	}
	c, err := LoadConfig(nil, env(map[string]string{
		"GATEKEEPER_WEBHOOK_SECRET": "0123456789abcdef", "GATEKEEPER_POLICIES": dir,
		"GITHUB_OAUTH_CLIENT_ID": "Iv1.x", "GITHUB_OAUTH_CLIENT_SECRET_FILE": dir + "/secret", "GATEKEEPER_SESSION_KEY_FILE": dir + "/key",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.OAuthClientSecret != "client-secret" || c.SessionKey != goodKey || !c.signInConfigured() {
		t.Errorf("secret %q, key %q", c.OAuthClientSecret, c.SessionKey)
	}
}

// TestUIAuth: what serves the pages follows the settings and the address
// actually bound, and the log says so.
func TestUIAuth(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		env      map[string]string
		listen   string
		wantMode webhooks.AuthMode
		loopback bool
		wantLog  string
	}{
		{name: "loopback, no sign-in", listen: "127.0.0.1:0", wantMode: webhooks.AuthLoopback, loopback: true, wantLog: "on this loopback address only"},
		{name: "localhost binds loopback", listen: "localhost:0", wantMode: webhooks.AuthLoopback, loopback: true, wantLog: "on this loopback address only"},
		{name: "every interface, no sign-in", listen: ":0", wantMode: webhooks.AuthLoopback, wantLog: "answer 401 on this address"},
		{name: "opted out", listen: "127.0.0.1:0", env: map[string]string{"GATEKEEPER_UI_AUTH": "none"}, wantMode: webhooks.AuthNone, wantLog: `"level":"WARN","msg":"GATEKEEPER_UI_AUTH=none`},
		{name: "sign-in", listen: "127.0.0.1:0", env: map[string]string{"GITHUB_OAUTH_CLIENT_ID": "Iv1.x", "GITHUB_OAUTH_CLIENT_SECRET": "s", "GATEKEEPER_SESSION_KEY": goodKey, "GATEKEEPER_PUBLIC_URL": "https://gate.example"},
			wantMode: webhooks.AuthGitHub, wantLog: "need sign-in with GitHub"},
		{name: "sign-in over plain http", listen: "127.0.0.1:0", env: map[string]string{"GITHUB_OAUTH_CLIENT_ID": "Iv1.x", "GITHUB_OAUTH_CLIENT_SECRET": "s", "GATEKEEPER_SESSION_KEY": goodKey, "GATEKEEPER_PUBLIC_URL": "http://gate.example"},
			wantMode: webhooks.AuthGitHub, wantLog: "sent unencrypted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := map[string]string{"GATEKEEPER_WEBHOOK_SECRET": "0123456789abcdef", "GATEKEEPER_POLICIES": t.TempDir()}
			for k, v := range tt.env {
				e[k] = v
			}
			c, err := LoadConfig(nil, env(e))
			if err != nil {
				t.Fatal(err)
			}
			ln, err := net.Listen("tcp", tt.listen)
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			var logs bytes.Buffer
			a, err := uiAuth(c, ln, slog.New(slog.NewJSONHandler(&logs, nil)))
			if err != nil {
				t.Fatal(err)
			}
			if a.Mode != tt.wantMode || a.LoopbackListen != tt.loopback {
				t.Errorf("mode %v loopback %v, want %v %v", a.Mode, a.LoopbackListen, tt.wantMode, tt.loopback)
			}
			if !strings.Contains(logs.String(), tt.wantLog) {
				t.Errorf("log lacks %q:\n%s", tt.wantLog, logs.String())
			}
			if strings.Contains(logs.String(), goodKey) {
				t.Error("the log shows the session key")
			}
		})
	}
}
