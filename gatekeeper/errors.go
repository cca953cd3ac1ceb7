package gatekeeper

import "errors"

// Sentinel errors, checked with errors.Is.
var (
	// ErrNotFound: the store has no such record.
	ErrNotFound = errors.New("not found")
	// ErrDuplicate: the delivery id was recorded before.
	ErrDuplicate = errors.New("duplicate delivery")
	// ErrPolicy: the policy does not compile or cannot be evaluated.
	ErrPolicy = errors.New("policy error")
	// ErrInvalid: the input (a payload, a setting) is malformed.
	ErrInvalid = errors.New("invalid")
	// ErrUnauthorized: a request's signature or token is wrong or missing.
	ErrUnauthorized = errors.New("unauthorized")
)

// PolicySummary returns the short text of a policy error that a commit
// status may carry: where the policy is wrong ("decision.rego:12: …"),
// never a host name, URL or another system's error text. It is "" when
// err does not say (its Error text is then for signed-in people only).
func PolicySummary(err error) string {
	var s interface{ PolicySummary() string }
	if errors.As(err, &s) {
		return s.PolicySummary()
	}
	return ""
}
