package opa

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"testing/fstest"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/tester"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

var _ gatekeeper.Served = (*Engine)(nil)

// Served returns the files of the revision in force when its short
// revision is short: what the store keeps so that a decision made under it
// can be replayed.
func (e *Engine) Served(short string) (gatekeeper.PolicyRevision, bool) {
	p := e.cur.Load().good
	if p == nil || p.served == nil || (short != "" && gatekeeper.ShortRevision(p.revision) != short) {
		return gatekeeper.PolicyRevision{}, false
	}
	files := make(map[string]string, len(p.served.names))
	for _, n := range p.served.names {
		files[n] = string(p.served.files[n].Data)
	}
	return gatekeeper.PolicyRevision{Revision: p.revision, Files: files}, true
}

// Limits of a policy folder given as files (a preview's candidate).
const (
	MaxPolicyFiles     = 200
	MaxPolicyFileBytes = 1 << 20
	MaxPolicyBytes     = 4 << 20
)

// TestReport is the outcome of a folder's own Rego tests, as `gatekeeper
// policy test` reports them.
type TestReport struct {
	Passed  int      `json:"passed"`
	Failed  int      `json:"failed"`
	Failing []string `json:"failing,omitempty"`
	// Output is the report of `gatekeeper policy test` (failures with
	// their file, line and values).
	Output string `json:"output,omitempty"`
}

// FilesOptions say how LoadFiles treats the files.
type FilesOptions struct {
	// Untrusted compiles the policy without the builtins that reach out
	// of the evaluation (http.send, net.lookup_ip_addr, opa.runtime) or
	// allocate without bound (net.cidr_expand): a candidate uploaded for
	// a preview is someone's code running on the server.
	Untrusted bool
	// Revision, when set, must be the revision of the files (a stored
	// revision): anything else is refused.
	Revision string
	// Tests runs the folder's own *_test.rego first.
	Tests bool
}

// LoadFiles returns an Engine serving a policy folder given as files
// (slash-separated relative path → content), loaded within the reload
// deadline and evaluated within the evaluation deadline like a folder on
// disk. With o.Tests, the folder's own tests run first and their report is
// returned beside the Engine; failing tests do not stop the Engine from
// loading (a preview shows both). An error means the files do not load.
func LoadFiles(ctx context.Context, files map[string]string, o FilesOptions, opts ...Option) (*Engine, TestReport, error) {
	var report TestReport
	snap, err := filesSnapshot(files)
	if err != nil {
		return nil, report, err
	}
	if o.Revision != "" && snap.revision != o.Revision && gatekeeper.ShortRevision(snap.revision) != o.Revision {
		return nil, report, fmt.Errorf("the stored files hash to revision %s, not %s: %w", short(snap.revision), o.Revision, gatekeeper.ErrInvalid)
	}
	if o.Untrusted {
		snap.caps = untrustedCapabilities()
	}
	e := New("(revision "+short(snap.revision)+")", opts...)
	tctx, cancel := context.WithTimeout(ctx, e.reloadTimeout)
	defer cancel()
	if o.Tests && snap.hasTests() {
		report, err = testReport(tctx, snap)
		if err != nil {
			return nil, report, policyErr(fmt.Errorf("policy revision %s: its tests do not load: %w", short(snap.revision), err))
		}
	}
	p, err := e.prepare(tctx, snap.served())
	if err != nil {
		if ctx.Err() == nil && errors.Is(tctx.Err(), context.DeadlineExceeded) {
			return nil, report, policyErr(fmt.Errorf("policy revision %s took longer than %s to load", short(snap.revision), e.reloadTimeout))
		}
		return nil, report, policyErrSummary(fmt.Errorf("policy revision %s does not load: %w", short(snap.revision), err), located(err, e.summary(err)))
	}
	p.tests, p.checksum = report.Passed, snap.checksum
	e.cur.Store(&state{good: p})
	return e, report, nil
}

// filesSnapshot checks files and builds the snapshot readSnapshot would
// build from the same folder on disk (same revision).
func filesSnapshot(files map[string]string) (*snapshot, error) {
	if len(files) > MaxPolicyFiles {
		return nil, fmt.Errorf("policy folder has %d files, at most %d: %w", len(files), MaxPolicyFiles, gatekeeper.ErrInvalid)
	}
	s := &snapshot{dir: "(files)", files: fstest.MapFS{}}
	total := 0
	for name, content := range files {
		clean := path.Clean(name)
		if name == "" || clean != name || path.IsAbs(name) || strings.HasPrefix(name, "../") || name == ".." || strings.Contains(name, "\\") {
			return nil, fmt.Errorf("policy file name %q is not a clean relative path: %w", name, gatekeeper.ErrInvalid)
		}
		if len(content) > MaxPolicyFileBytes {
			return nil, fmt.Errorf("policy file %s is %d bytes, at most %d: %w", name, len(content), MaxPolicyFileBytes, gatekeeper.ErrInvalid)
		}
		total += len(content)
		hidden := false
		for _, part := range strings.Split(name, "/") {
			hidden = hidden || strings.HasPrefix(part, ".")
		}
		if hidden || !policyFile(name) {
			continue // as readSnapshot skips them
		}
		s.files[name] = &fstest.MapFile{Data: []byte(content), Mode: 0o444}
		s.names = append(s.names, name)
	}
	if total > MaxPolicyBytes {
		return nil, fmt.Errorf("policy folder is %d bytes, at most %d: %w", total, MaxPolicyBytes, gatekeeper.ErrInvalid)
	}
	if len(s.names) == 0 {
		return nil, fmt.Errorf("no .rego or data files among the %d given: %w", len(files), gatekeeper.ErrInvalid)
	}
	slices.Sort(s.names)
	s.revision = s.hash("", func(n string) bool { return !testFile(n) })
	s.checksum = s.revision
	if s.hasTests() {
		s.checksum = s.hash(s.revision, testFile)
	}
	return s, nil
}

// testReport runs snap's tests and reports them as Test does.
func testReport(ctx context.Context, snap *snapshot) (TestReport, error) {
	results, err := snap.runTests(ctx, testFilter{})
	if err != nil {
		return TestReport{}, err
	}
	run := summarize(results)
	if run.failed > 0 {
		if err := snap.traceFailures(ctx, results); err != nil {
			return TestReport{}, err
		}
	}
	ordered := make(chan *tester.Result, len(results))
	for _, r := range results {
		ordered <- r
	}
	close(ordered)
	var out bytes.Buffer
	reporter := tester.PrettyReporter{Output: &out, FailureLine: true, LocalVars: true}
	if err := reporter.Report(ordered); err != nil {
		return TestReport{}, err
	}
	fmt.Fprintf(&out, "%d passed, %d failed\n", run.passed, run.failed)
	return TestReport{Passed: run.passed, Failed: run.failed, Failing: run.failing, Output: out.String()}, nil
}

// untrustedBuiltins are left out of an untrusted policy's capabilities.
var untrustedBuiltins = map[string]bool{
	"http.send": true, "net.lookup_ip_addr": true, "opa.runtime": true, "net.cidr_expand": true,
}

func untrustedCapabilities() *ast.Capabilities {
	caps := ast.CapabilitiesForThisVersion()
	kept := caps.Builtins[:0]
	for _, b := range caps.Builtins {
		if !untrustedBuiltins[b.Name] {
			kept = append(kept, b)
		}
	}
	caps.Builtins = kept
	return caps
}

// WithEvalTimeoutCap bounds every evaluation at d, whatever the policy
// data says (release.evaluation.timeout allows up to a minute): a preview
// evaluates someone's candidate on the server.
func WithEvalTimeoutCap(d time.Duration) Option {
	return func(e *Engine) { e.evalCap = d }
}

// ReadFiles reads a policy folder as `serve` would (Rego, data and test
// files; hidden files skipped), for sending it as files: a preview's
// candidate.
func ReadFiles(dir string) (map[string]string, error) {
	snap, err := readSnapshot(dir, true)
	if err != nil {
		return nil, err
	}
	files := make(map[string]string, len(snap.names))
	for _, n := range snap.names {
		files[n] = string(snap.files[n].Data)
	}
	return files, nil
}
