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
//     evaluation. A revision is the sha256 of the served policy files'
//     relative paths and contents (never *_test.rego), so an unchanged
//     folder is never recompiled.
//   - A revision is served only after the folder's own Rego tests pass
//     against it (a folder without tests is served untested). A revision
//     whose tests fail is refused like one that does not compile. What is
//     re-checked follows a second hash that includes the test files, so an
//     edit to a test alone re-runs the tests without changing the revision.
//   - Fail closed. A decision is decoded strictly: anything but a
//     well-formed success, failure or pending decision is an error wrapping
//     gatekeeper.ErrPolicy, never a success. While the folder holds a broken
//     policy, the last good one keeps being evaluated for the record, but
//     Evaluate returns an error, so statuses say error until it is fixed.
//   - Builtin errors are errors (rego.StrictBuiltinErrors): a builtin that
//     fails must not silently make a "reasons contains ..." rule undefined,
//     which would loosen the gate.
//   - Every evaluation has a deadline (release.evaluation.timeout in the
//     policy data, else WithEvalTimeout, else a second); OPA checks it
//     between evaluation steps, so a policy that burns CPU is stopped and
//     the decision is an error naming the timeout. The smoke evaluation at
//     load has the same deadline, and loading a revision has its own
//     (WithReloadTimeout): past either, the revision is refused.
//   - The release settings (data.release) are decoded once per revision
//     into Settings; the gatekeeper's own code reads them there, never by
//     walking the data documents.
//   - A policy error carries a one-line public summary, where the policy
//     is wrong first ("decision.rego:12: …"), which the commit status
//     shows (gatekeeper.PolicySummary); the full error is for the page.
//   - rego.ResultSet and the other OPA types stop here; callers see
//     gatekeeper.Decision.
//
// Concurrency: Evaluate, Revision, Ready and Status read one atomic pointer
// and may run at any time, also during Reload; Reload swaps the pointer only
// after the new revision compiled, prepared, passed a smoke evaluation and
// passed its tests. Evaluations never wait for a reload's tests. Watch loads
// a new revision in the background and cancels that load when the folder
// changes again, so a fix never waits behind a slow revision.
package opa
