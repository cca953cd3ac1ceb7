package main

import (
	"regexp"
	"strings"
	"testing"
)

// TestEveryCommandHasHelp: every way a newcomer asks for help (-h, --help,
// help, before or after the command) prints that command's usage on
// standard output and exits 0; none is read as a folder, an input or a
// setting.
func TestEveryCommandHasHelp(t *testing.T) {
	t.Parallel()
	commands := []struct {
		name   string
		prefix []string
		usage  string // what the command's own usage starts with
	}{
		{"top level", nil, "usage:\n  gatekeeper serve"},
		{"serve", []string{"serve"}, "usage: gatekeeper serve"},
		{"eval", []string{"eval"}, "usage: gatekeeper eval"},
		{"policy", []string{"policy"}, "usage: gatekeeper policy test"},
		{"policy test", []string{"policy", "test"}, "usage: gatekeeper policy test"},
		{"version", []string{"version"}, "usage: gatekeeper version"},
		{"replay", []string{"replay"}, "usage: gatekeeper replay"},
		{"preview", []string{"preview"}, "usage: gatekeeper preview"},
	}
	for _, c := range commands {
		for _, h := range []string{"-h", "--help", "-help", "help"} {
			args := append(append([]string(nil), c.prefix...), h)
			t.Run(strings.Join(args, " "), func(t *testing.T) {
				t.Parallel()
				code, out, errOut := runCmd(t, map[string]string{"GATEKEEPER_POLICIES": "../../policies"}, args...)
				if code != 0 {
					t.Errorf("exit %d, want 0\nstdout: %s\nstderr: %s", code, out, errOut)
				}
				if !strings.HasPrefix(out, c.usage) {
					t.Errorf("standard output does not start with %q:\n%s", c.usage, out)
				}
				if errOut != "" {
					t.Errorf("help wrote to standard error:\n%s", errOut)
				}
				if strings.Contains(out, "unavailable") {
					t.Errorf("help was read as a policy folder:\n%s", out)
				}
			})
		}
	}
	// gatekeeper help COMMAND is the same as COMMAND -h.
	for _, c := range commands[1:] {
		if len(c.prefix) != 1 {
			continue
		}
		t.Run("help "+c.name, func(t *testing.T) {
			t.Parallel()
			code, out, errOut := runCmd(t, nil, "help", c.prefix[0])
			if code != 0 || !strings.HasPrefix(out, c.usage) {
				t.Errorf("exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
			}
		})
	}
}

// TestMisuseStillExits2: help is exit 0, but a wrong flag or argument is
// still a usage error.
func TestMisuseStillExits2(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"eval", "--frobnicate"},
		{"eval", "--input", "x.json", "extra"},
		{"policy"},
		{"policy", "frobnicate"},
		{"policy", "test", "--frobnicate"},
		{"version", "--frobnicate"},
		{"version", "a", "b"},
		{"serve", "--frobnicate"},
		{"help", "frobnicate"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			t.Parallel()
			code, out, errOut := runCmd(t, nil, args...)
			if code != 2 {
				t.Errorf("exit %d, want 2\nstdout: %s\nstderr: %s", code, out, errOut)
			}
			if errOut == "" {
				t.Error("nothing on standard error")
			}
		})
	}
}

// TestServeHelpNamesSecretsAndStores: serve's help lists the settings that
// have no flag (the secrets, and their _FILE variants), and offers only the
// store schemes this build can open.
func TestServeHelpNamesSecretsAndStores(t *testing.T) {
	t.Parallel()
	code, out, errOut := runCmd(t, nil, "serve", "--help")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	var secrets int
	for _, s := range (&Config{}).settings() {
		if !s.secret {
			continue
		}
		secrets++
		for _, name := range []string{s.env, s.env + "_FILE"} {
			if !regexp.MustCompile(`\b` + name + `\b`).MatchString(out) {
				t.Errorf("serve help does not name %s:\n%s", name, out)
			}
		}
	}
	if secrets < 5 {
		t.Errorf("only %d secret settings", secrets)
	}
	offered := 0
	for _, m := range regexp.MustCompile(`\b([a-z][a-z0-9+.-]*)://`).FindAllStringSubmatch(out, -1) {
		if m[1] == "http" || m[1] == "https" {
			continue // URL defaults
		}
		offered++
		if _, _, err := parseStore(m[1] + "://x"); err != nil {
			t.Errorf("serve help offers %s://, which this build cannot open: %v", m[1], err)
		}
	}
	if offered == 0 {
		t.Errorf("serve help offers no store:\n%s", out)
	}
}
