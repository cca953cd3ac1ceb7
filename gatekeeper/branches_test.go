package gatekeeper

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestParseBranchPairsRefusesWhatGitRefuses: a gated pair names two git
// branches; a value git would not take as a branch name (a third colon
// part, a space) is a start-up error naming the culprit, not a pair that
// can never match.
func TestParseBranchPairsRefusesWhatGitRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, says string
	}{
		{"staging:master:x", `"master:x"`},
		{"my branch:master", `"my branch"`},
		{"staging:mas ter", `"mas ter"`},
		{"staging:master,release:main:x", `"main:x"`},
		{"a..b:master", `"a..b"`},
		{"staging:-master", `"-master"`},
		{"staging:HEAD", `"HEAD"`},
		{"release/:master", `"release/"`},
		{"staging:master.lock", `"master.lock"`},
		{"stag\ting:master", `"stag\ting"`},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			_, err := ParseBranchPairs(tc.in)
			if err == nil {
				t.Fatalf("ParseBranchPairs(%q) accepted", tc.in)
			}
			if !strings.Contains(err.Error(), tc.says) || !strings.Contains(err.Error(), "branch name") {
				t.Errorf("error %q does not name %s as a bad branch name", err, tc.says)
			}
		})
	}
	p, err := ParseBranchPairs(" staging : master , release/2026.11:main, hotfix/ü-1:main ")
	if err != nil {
		t.Fatal(err)
	}
	want := BranchPairs{{"staging", "master"}, {"release/2026.11", "main"}, {"hotfix/ü-1", "main"}}
	if diff := cmp.Diff(want, p); diff != "" {
		t.Errorf("pairs (-want +got):\n%s", diff)
	}
}

// TestBranchNameAgreesWithGit checks the rule against git itself.
func TestBranchNameAgreesWithGit(t *testing.T) {
	t.Parallel()
	git, err := exec.LookPath("git")
	if err != nil {
		t.Skip("no git on PATH")
	}
	for _, name := range []string{
		"staging", "master", "release/1.2", "feature/x.y", "ü", "@x", "x@", "a-b_c", "v1.0",
		"master:x", "my branch", "-x", "HEAD", "a..b", ".a", "a.lock", "a/", "/a", "a//b", "a@{b",
		`a\b`, "a~1", "a^", "a?", "a*", "a[", "a.", "a\tb", "a/.b", "a.lock/b", "a\x7fb", "a\x01b",
	} {
		gitOK := exec.Command(git, "check-ref-format", "--branch", name).Run() == nil
		ours := checkBranchName(name)
		if (ours == nil) != gitOK {
			t.Errorf("%q: git says valid=%v, checkBranchName says %v", name, gitOK, ours)
		}
	}
}

// FuzzParseBranchPairs: whatever the setting, the parser does not panic,
// and what it accepts is pairs of valid branch names that read back the
// same from String().
func FuzzParseBranchPairs(f *testing.F) {
	for _, s := range []string{"staging:master", " staging : master , hotfix:master", "staging:master:x",
		"my branch:master", ",", ":", "a:b,,c:d", "release/1.2:main", "a..b:c", "ü:ö"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseBranchPairs(s)
		if err != nil {
			return
		}
		if len(p) == 0 {
			t.Fatalf("%q: no error and no pair", s)
		}
		for _, b := range p {
			for _, name := range []string{b.Head, b.Base} {
				if err := checkBranchName(name); err != nil {
					t.Fatalf("%q: accepted %q: %v", s, name, err)
				}
				if strings.ContainsAny(name, ":, \t\n") {
					t.Fatalf("%q: accepted %q", s, name)
				}
			}
		}
		again, err := ParseBranchPairs(p.String())
		if err != nil {
			t.Fatalf("%q: String() %q does not parse: %v", s, p.String(), err)
		}
		if diff := cmp.Diff(p, again); diff != "" {
			t.Fatalf("%q: round trip (-first +again):\n%s", s, diff)
		}
	})
}
