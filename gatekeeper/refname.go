package gatekeeper

import (
	"fmt"
	"strings"
)

// checkBranchName reports why name is not a branch name git would take
// (git check-ref-format --branch), or nil. A gated pair that names no
// possible branch would never match a pull request: a typo in
// GATEKEEPER_GATED_BRANCHES would leave the release ungated, silently.
func checkBranchName(name string) error {
	if name == "" {
		return fmt.Errorf("it is empty")
	}
	if strings.HasPrefix(name, "-") {
		return fmt.Errorf("it starts with -")
	}
	if name == "HEAD" {
		return fmt.Errorf("HEAD names the current commit, not a branch")
	}
	for _, r := range name {
		switch {
		case r < 0x20 || r == 0x7f:
			return fmt.Errorf("it contains the control character %q", r)
		case r == ' ':
			return fmt.Errorf("it contains a space")
		case strings.ContainsRune(`~^:?*[\`, r):
			return fmt.Errorf("it contains %q", r)
		}
	}
	switch {
	case strings.Contains(name, ".."):
		return fmt.Errorf("it contains ..")
	case strings.Contains(name, "@{"):
		return fmt.Errorf("it contains @{")
	case strings.HasSuffix(name, "."):
		return fmt.Errorf("it ends with .")
	case strings.HasPrefix(name, "/"), strings.HasSuffix(name, "/"), strings.Contains(name, "//"):
		return fmt.Errorf("it has an empty part between slashes")
	}
	for _, part := range strings.Split(name, "/") {
		if strings.HasPrefix(part, ".") {
			return fmt.Errorf("its part %q starts with .", part)
		}
		if strings.HasSuffix(part, ".lock") {
			return fmt.Errorf("its part %q ends with .lock", part)
		}
	}
	return nil
}
