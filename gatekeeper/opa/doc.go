// Package opa adapts Open Policy Agent to the release gatekeeper: it loads the
// release managers' Rego and data files from the gatekeeper's own policy
// folder, prepares the query data.gatekeeper.decision once per policy
// revision, and evaluates it for every pull request (Engine, a
// gatekeeper.Evaluator). It also runs the policy's own Rego unit tests (Test)
// and evaluates one input document for the command line (Eval).
//
// Invariants:
//
//   - The query is compiled and prepared once per revision, never per
//     evaluation. A revision is the sha256 of the policy files' relative
//     paths and contents, so an unchanged folder is never recompiled.
//   - Fail closed. A decision is decoded strictly: anything but a
//     well-formed success, failure or pending decision is an error wrapping
//     gatekeeper.ErrPolicy, never a success. While the folder holds a broken
//     policy, the last good one keeps being evaluated for the record, but
//     Evaluate returns an error, so statuses say error until it is fixed.
//   - Builtin errors are errors (rego.StrictBuiltinErrors): a builtin that
//     fails must not silently make a "reasons contains ..." rule undefined,
//     which would loosen the gate.
//   - rego.ResultSet and the other OPA types stop here; callers see
//     gatekeeper.Decision.
//
// Concurrency: Evaluate, Revision, Ready and Status read one atomic pointer
// and may run at any time, also during Reload; Reload swaps the pointer only
// after the new revision compiled, prepared and passed a smoke evaluation.
package opa
