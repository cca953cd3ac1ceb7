package gatekeeper

import "time"

// PolicyHealth says which policy revision is in force and which, if any,
// the policy folder holds that is refused (it does not load, fails its
// tests, or is too slow). /readyz and the gatekeeper_policy_ok gauge show
// it; it carries no pull request content.
type PolicyHealth struct {
	// Revision is the short hash of the revision in force, "" if none.
	Revision string `json:"revision"`
	// BrokenRevision is the short hash of the refused revision; Error
	// says, in a line, where it is wrong; ErrorAt is when it was found.
	BrokenRevision string    `json:"broken_revision,omitempty"`
	Error          string    `json:"error,omitempty"`
	ErrorAt        time.Time `json:"error_at,omitzero"`
}

// OK reports whether a revision is in force and the folder holds it.
func (h PolicyHealth) OK() bool { return h.Revision != "" && h.Error == "" }
