package opa

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing/fstest"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/loader"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
)

// Query is the one document the gatekeeper asks the policy for.
const Query = "data.gatekeeper.decision"

// revisionLen is how many hex digits of the content hash are shown.
const revisionLen = 12

// snapshot is the policy folder read into memory once: the revision is the
// hash of exactly these bytes, and the loader parses exactly these bytes, so
// a file edited between hashing and parsing cannot give a revision that
// names other content than was compiled.
//
// Two hashes are kept. The revision covers the served files only: a test
// file never changes what is served, so it never changes the revision that
// decisions name. The checksum covers every file read, tests included: it
// decides what must be checked again, so that an edit to a *_test.rego
// alone still re-runs the tests (see Engine.Reload).
type snapshot struct {
	dir      string
	revision string // full hex sha256 of the served files
	checksum string // full hex sha256 of every file read, tests included
	files    fstest.MapFS
	names    []string // sorted slash-separated relative paths
	// caps, when set, are the capabilities the policy compiles with (an
	// untrusted candidate's: see LoadFiles).
	caps *ast.Capabilities
}

// policyFile reports whether name is a file the loader understands: Rego
// and data files. Anything else (README.md, editor backups) is ignored.
func policyFile(name string) bool {
	switch path.Ext(name) {
	case ".rego", ".json", ".yaml", ".yml":
		return true
	}
	return false
}

// testFile reports whether name is a Rego unit test, which is loaded by
// Test but never served.
func testFile(name string) bool {
	return strings.HasSuffix(name, "_test.rego")
}

// readSnapshot reads the policy and data files under dir. With tests false
// it leaves out *_test.rego. Hidden files and folders (".git", "..data" of a
// Kubernetes ConfigMap mount) are skipped; symbolic links to files are
// followed, so that a ConfigMap's atomic symlink swap is seen as an edit.
func readSnapshot(dir string, tests bool) (*snapshot, error) {
	s := &snapshot{dir: dir, files: fstest.MapFS{}}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if !policyFile(rel) || (!tests && testFile(rel)) {
			return nil
		}
		if d.Type()&fs.ModeSymlink != 0 {
			info, err := os.Stat(p)
			if err != nil {
				return err
			}
			if !info.Mode().IsRegular() {
				return nil
			}
		} else if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		s.files[rel] = &fstest.MapFile{Data: b, Mode: 0o444}
		s.names = append(s.names, rel)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading policy folder %s: %w", dir, err)
	}
	slices.Sort(s.names)
	s.revision = s.hash("", func(n string) bool { return !testFile(n) })
	s.checksum = s.revision
	if s.hasTests() {
		// The revision stands for the served files: hash them once.
		s.checksum = s.hash(s.revision, testFile)
	}
	return s, nil
}

// hash returns the hex sha256 of prefix and the files whose names keep
// accepts.
func (s *snapshot) hash(prefix string, keep func(name string) bool) string {
	h := sha256.New()
	h.Write([]byte(prefix))
	for _, n := range s.names {
		if !keep(n) {
			continue
		}
		// Length-prefixed, so that moving bytes between a name and its
		// content can never give the same hash.
		fmt.Fprintf(h, "%d:%s\n%d:", len(n), n, len(s.files[n].Data))
		h.Write(s.files[n].Data)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// served returns the snapshot without its *_test.rego files: what the
// Engine compiles and serves. It shares the file contents.
func (s *snapshot) served() *snapshot {
	if !s.hasTests() {
		return s
	}
	v := &snapshot{dir: s.dir, revision: s.revision, files: fstest.MapFS{}, caps: s.caps}
	for _, n := range s.names {
		if !testFile(n) {
			v.files[n] = s.files[n]
			v.names = append(v.names, n)
		}
	}
	v.checksum = v.revision
	return v
}

// short returns the revision as shown to people.
func short(rev string) string {
	if len(rev) > revisionLen {
		return rev[:revisionLen]
	}
	return rev
}

// compileMu serialises compiling Rego in this process. OPA's type checker
// (ast.mergeTypes in v1.22.3) changes a type it shares between compilers in
// place, so two policy revisions compiled at once, or a revision's tests
// compiled beside a reload, race (the race detector caught it in CI: a
// write in mergeTypes against a read in hasEmptyCollectionType). Compiling
// is the rare, slow step of a reload; evaluation never takes this lock.
var compileMu sync.Mutex

// load parses the snapshot with OPA's loader (Rego v1 syntax), returning
// the parsed modules and the data documents.
func (s *snapshot) load() (*loader.Result, error) {
	if len(s.names) == 0 {
		return nil, fmt.Errorf("no .rego or data files in %s", s.dir)
	}
	res, err := loader.NewFileLoader().
		WithFS(s.files).
		WithRegoVersion(ast.RegoV1).
		WithProcessAnnotation(true).
		All([]string{"."})
	if err != nil {
		return nil, fmt.Errorf("parsing: %w", err)
	}
	return res, nil
}

// prepare compiles the snapshot and prepares Query for evaluation. This is
// the expensive step, done once per revision. The modules are compiled here
// rather than by rego, whose errors would bury the file and line under
// "bundle activation failed".
//
// pre evaluates the rules of the policy data alone (see precompute) within
// a budget of CPU time, once the caller knows the evaluation deadline.
func (s *snapshot) prepare(ctx context.Context) (q rego.PreparedEvalQuery, data map[string]any, pre func(context.Context, time.Duration) *precomputed, err error) {
	res, err := s.load()
	if err != nil {
		return rego.PreparedEvalQuery{}, nil, nil, err
	}
	store := inmem.NewFromObject(res.Documents)
	txn, err := store.NewTransaction(ctx)
	if err != nil {
		return rego.PreparedEvalQuery{}, nil, nil, fmt.Errorf("opening policy data: %w", err)
	}
	defer store.Abort(ctx, txn)
	// The path-conflicts check rejects a rule whose path a data file also
	// defines, which would otherwise make one of them silently win.
	compiler := ast.NewCompiler().WithPathConflictsCheck(storage.NonEmpty(ctx, store, txn))
	if s.caps != nil {
		compiler = compiler.WithCapabilities(s.caps)
	}
	compileMu.Lock()
	compiler.Compile(res.ParsedModules())
	compileMu.Unlock()
	if compiler.Failed() {
		return rego.PreparedEvalQuery{}, nil, nil, compiler.Errors
	}
	compileMu.Lock()
	pq, err := rego.New(
		rego.Query(Query),
		rego.Compiler(compiler),
		rego.Store(store),
		rego.StrictBuiltinErrors(true),
	).PrepareForEval(ctx)
	compileMu.Unlock()
	if err != nil {
		return rego.PreparedEvalQuery{}, nil, nil, fmt.Errorf("preparing %s: %w", Query, err)
	}
	return pq, res.Documents, func(ctx context.Context, budget time.Duration) *precomputed {
		return precompute(ctx, compiler, store, budget)
	}, nil
}

// testStore loads the snapshot the way `opa test` does: data documents and
// the policies' sources in an in-memory store, parsed modules by name.
func (s *snapshot) testStore(ctx context.Context) (map[string]*ast.Module, storage.Store, error) {
	res, err := s.load()
	if err != nil {
		return nil, nil, err
	}
	store := inmem.NewFromObject(res.Documents)
	modules := make(map[string]*ast.Module, len(res.Modules))
	err = storage.Txn(ctx, store, storage.WriteParams, func(txn storage.Transaction) error {
		for _, m := range res.Modules {
			modules[m.Name] = m.Parsed
			if err := store.UpsertPolicy(ctx, txn, m.Name, m.Raw); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("storing policy folder %s: %w", s.dir, err)
	}
	return modules, store, nil
}
