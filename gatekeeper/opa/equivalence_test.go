package opa

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/types"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// beforeDir is the default policy as it was before its evaluation was
// made cheaper (issue 10): the reference whose decisions the rewritten
// policy must give exactly. When the policy's verdicts change on purpose,
// refresh it from main's policies/ (the *.rego files but the tests, and
// data.yaml) in the same commit.
const beforeDir = "testdata/policy-before"

// policyCase is one input and the data.release it is evaluated with.
type policyCase struct {
	name    string
	input   ast.Value
	release ast.Value
}

// captureTestCases runs the Rego tests of dir and records the input and
// the data.release of every expression that replaces them with `with`:
// before each such expression (at the top level of a rule body) a call
// of a recording function is inserted, under the same `with` modifiers.
func captureTestCases(t *testing.T, dir string) []policyCase {
	t.Helper()
	ctx := context.Background()
	snap, err := readSnapshot(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	res, err := snap.load()
	if err != nil {
		t.Fatal(err)
	}
	modules := res.ParsedModules()
	instrumented := 0
	for name, m := range modules {
		if !testFile(name) {
			continue
		}
		for _, r := range m.Rules {
			var body ast.Body
			for _, e := range r.Body {
				if withInputOrRelease(e) {
					c := ast.MustParseExpr("regoperf_capture(data.regoperf_capture.snapshot)")
					c.With = e.Copy().With
					c.Location = e.Location
					body = append(body, c)
					instrumented++
				}
				body = append(body, e)
			}
			for i, e := range body {
				e.Index = i
			}
			r.Body = body
		}
	}
	if instrumented == 0 {
		t.Fatalf("no expression of the tests in %s replaces the input", dir)
	}
	modules["regoperf_capture.rego"] = ast.MustParseModuleWithOpts(`package regoperf_capture

default cap_input := null

cap_input := input

default cap_release := null

cap_release := data.release

snapshot := {"input": cap_input, "release": cap_release}
`, ast.ParserOptions{RegoVersion: ast.RegoV1})

	var cases []policyCase
	seen := map[string]bool{}
	capture := rego.Function1(&rego.Function{Name: "regoperf_capture", Decl: types.NewFunction(types.Args(types.A), types.B)},
		func(_ rego.BuiltinContext, a *ast.Term) (*ast.Term, error) {
			obj, ok := a.Value.(ast.Object)
			if !ok {
				return nil, fmt.Errorf("capture: %v", a)
			}
			in, rel := obj.Get(ast.StringTerm("input")), obj.Get(ast.StringTerm("release"))
			if _, isObj := in.Value.(ast.Object); !isObj {
				return ast.BooleanTerm(true), nil // no input: not an evaluation the Engine makes
			}
			key := a.String()
			if !seen[key] {
				seen[key] = true
				cases = append(cases, policyCase{name: fmt.Sprintf("test-%d", len(cases)), input: in.Value, release: rel.Value})
			}
			return ast.BooleanTerm(true), nil
		})
	opts := []func(*rego.Rego){rego.Query("data"), rego.Store(inmem.NewFromObject(res.Documents)), capture}
	for _, name := range slices.Sorted(maps.Keys(modules)) {
		opts = append(opts, rego.ParsedModule(modules[name]))
	}
	// Evaluating the tests' packages evaluates every test rule once.
	for _, pkg := range testPackages(modules) {
		opts[0] = rego.Query(pkg)
		if _, err := rego.New(opts...).Eval(ctx); err != nil {
			t.Fatalf("running the instrumented tests of %s: %v", pkg, err)
		}
	}
	t.Logf("%d expressions of the policy tests replace the input; %d distinct inputs and settings", instrumented, len(cases))
	return cases
}

func withInputOrRelease(e *ast.Expr) bool {
	for _, w := range e.With {
		if ref, ok := w.Target.Value.(ast.Ref); ok && (ref.HasPrefix(ast.InputRootRef) || ref.HasPrefix(ast.MustParseRef("data.release"))) {
			return true
		}
	}
	return false
}

func testPackages(modules map[string]*ast.Module) []string {
	set := map[string]bool{}
	for name, m := range modules {
		if testFile(name) {
			set[m.Package.Path.String()] = true
		}
	}
	return slices.Sorted(maps.Keys(set))
}

// goldenCases are the input golden files under the default settings.
func goldenCases(t *testing.T, release ast.Value) []policyCase {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "input", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no input golden files: %v", err)
	}
	var cases []policyCase
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		v, err := ast.ValueFromReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		cases = append(cases, policyCase{name: filepath.Base(f), input: v, release: release})
	}
	return cases
}

// defaultRelease is data.release of the default policy folder.
func defaultRelease(t *testing.T) ast.Value {
	t.Helper()
	snap, err := readSnapshot(policiesDir, false)
	if err != nil {
		t.Fatal(err)
	}
	res, err := snap.load()
	if err != nil {
		t.Fatal(err)
	}
	v, err := ast.InterfaceToValue(res.Documents["release"])
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// words are values a mutation may put anywhere: the statuses, states,
// verdicts and names the policy compares against, and odd ones.
var words = []any{
	nil, "", true, false, 0, 1, -1, 2.5, 99.9, "SUCCESS", "FAILURE", "FAILED", "UNSTABLE", "IN_PROGRESS",
	"PAUSED_PENDING_INPUT", "NOT_EXECUTED", "APPROVED", "CHANGES_REQUESTED", "DISMISSED", "go", "nogo", "GO", "NOGO",
	"pending", "failure", "error", "success", "open", "closed", "emergency-release", "release", "minor", "none", "jenkins",
	"qa-carol", "sre-dan", "lead-bob", "vp-erin", "rm-rita", "dev-alice", "Codertocat", "releasegate/qa",
	"releasegate/release-managers", "2026-11-30T12:30:00Z", "2024-06-15T12:00:00Z", "2024-06-14T10:00:00Z",
	"Saturday", "17:00", "25:00", "Asia/Kolkata", "Nowhere/City", "clone", "deploy", "unit_tests", "stages", "tests",
	"coverage", map[string]any{}, []any{},
}

// mutate changes one place of doc (a JSON document as ast.JSON gives it),
// chosen by r: it removes an object member or array element, replaces a
// value with a word or with another value found in doc, or duplicates an
// array element. It returns the document changed.
func mutate(r *rand.Rand, doc any) any {
	var places []func(any) // setters, and the value each sets
	var values []any
	var walk func(v any, set func(any), remove func())
	walk = func(v any, set func(any), remove func()) {
		values = append(values, v)
		places = append(places, func(op any) {
			switch op := op.(type) {
			case string:
				switch op {
				case "remove":
					if remove != nil {
						remove()
						return
					}
					set(nil)
				case "dup":
					if a, ok := v.([]any); ok && len(a) > 0 {
						set(append(a, copyJSON(a[r.IntN(len(a))])))
						return
					}
					set(copyJSON(values[r.IntN(len(values))]))
				}
			default:
				set(op)
			}
		})
		switch x := v.(type) {
		case map[string]any:
			for _, k := range slices.Sorted(maps.Keys(x)) {
				walk(x[k], func(n any) { x[k] = n }, func() { delete(x, k) })
			}
		case []any:
			for i := range x {
				walk(x[i], func(n any) { x[i] = n }, func() {
					y := slices.Delete(slices.Clone(x), i, i+1)
					set(y)
				})
			}
		}
	}
	root := doc
	walk(doc, func(n any) { root = n }, nil)
	if len(places) < 2 {
		return root // nothing inside to change
	}
	at := 1 + r.IntN(len(places)-1) // never the whole document
	switch r.IntN(5) {
	case 0:
		places[at]("remove")
	case 1:
		places[at]("dup")
	case 2:
		places[at](copyJSON(values[r.IntN(len(values))]))
	default:
		places[at](copyJSON(words[r.IntN(len(words))]))
	}
	return root
}

func copyJSON(v any) any {
	b, _ := json.Marshal(v)
	var out any
	_ = json.Unmarshal(b, &out)
	return out
}

// variedCases derives n cases from bases by one to three mutations each of
// the input, and for one case in twenty of the settings too.
func variedCases(t *testing.T, bases []policyCase, n int, seed uint64) []policyCase {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, seed))
	var out []policyCase
	for i := range n {
		base := bases[r.IntN(len(bases))]
		in, err := ast.JSON(base.input)
		if err != nil {
			t.Fatal(err)
		}
		in = copyJSON(in)
		for range 1 + r.IntN(3) {
			in = mutate(r, in)
		}
		c := policyCase{name: fmt.Sprintf("varied-%d (from %s)", i, base.name), release: base.release}
		if r.IntN(20) == 0 {
			rel, err := ast.JSON(base.release)
			if err != nil {
				t.Fatal(err)
			}
			if c.release, err = ast.InterfaceToValue(mutate(r, copyJSON(rel))); err != nil {
				t.Fatal(err)
			}
		}
		if _, ok := in.(map[string]any); !ok {
			continue
		}
		if c.input, err = ast.InterfaceToValue(in); err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	return out
}

// plainEvaluator prepares the policy of dir the plain way (rego.Load of
// its files but the tests) with a query that replaces the input and
// data.release, and returns a function that evaluates data.gatekeeper.decision
// for a case: no Engine, no precomputed rules.
func plainEvaluator(t *testing.T, dir string) func(policyCase) (map[string]any, error) {
	t.Helper()
	ctx := context.Background()
	pq, err := rego.New(
		rego.Query("x := data.gatekeeper.decision with input as input.input with data.release as input.release"),
		rego.Load([]string{dir}, func(_ string, info fs.FileInfo, _ int) bool {
			return testFile(info.Name()) || strings.HasSuffix(info.Name(), ".md")
		}),
		rego.StrictBuiltinErrors(true),
	).PrepareForEval(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return func(c policyCase) (map[string]any, error) {
		in := ast.NewObject(
			[2]*ast.Term{ast.StringTerm("input"), ast.NewTerm(c.input)},
			[2]*ast.Term{ast.StringTerm("release"), ast.NewTerm(c.release)},
		)
		rs, err := pq.Eval(ctx, rego.EvalParsedInput(in))
		if err != nil {
			return nil, err
		}
		if len(rs) != 1 {
			return nil, fmt.Errorf("%d results", len(rs))
		}
		m, ok := rs[0].Bindings["x"].(map[string]any)
		if !ok {
			return nil, fmt.Errorf("decision %v", rs[0].Bindings["x"])
		}
		return m, nil
	}
}

// engineEvaluator evaluates a case as the Engine does: the policy of dir
// with the case's data.release as its data file, prepared (and its rules
// of the data precomputed) once per distinct data.release. A data.release
// the Engine refuses to serve is reported as errRefused.
func engineEvaluator(t *testing.T, dir string) func(policyCase) (map[string]any, error) {
	t.Helper()
	ctx := context.Background()
	base, err := readSnapshot(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	// No deadline that a loaded machine could miss: an evaluation too
	// slow would read as settings the Engine refuses.
	e := New(dir, WithEvalTimeout(time.Hour))
	type entry struct {
		p   *prepared
		err error
	}
	byRelease := map[string]entry{}
	return func(c policyCase) (map[string]any, error) {
		key := c.release.String()
		got, ok := byRelease[key]
		if !ok {
			files := fstest.MapFS{}
			var names []string
			for _, n := range base.names {
				if path.Ext(n) == ".rego" {
					files[n], names = base.files[n], append(names, n)
				}
			}
			rel, err := ast.JSON(c.release)
			if err != nil {
				t.Fatal(err)
			}
			b, err := json.Marshal(map[string]any{"release": rel})
			if err != nil {
				t.Fatal(err)
			}
			files["data.json"], names = &fstest.MapFile{Data: b, Mode: 0o444}, append(names, "data.json")
			slices.Sort(names)
			snap := &snapshot{dir: dir, files: files, names: names}
			snap.revision = snap.hash("", func(string) bool { return true })
			snap.checksum = snap.revision
			p, err := e.prepare(ctx, snap)
			if err != nil {
				err = fmt.Errorf("%w: %w", errRefused, err)
			}
			got = entry{p, err}
			byRelease[key] = got
		}
		if got.err != nil {
			return nil, got.err
		}
		rs, err := got.p.run(ctx, c.input)
		if err != nil {
			return nil, err
		}
		if len(rs) != 1 || len(rs[0].Expressions) != 1 {
			return nil, fmt.Errorf("%d results", len(rs))
		}
		m, ok := rs[0].Expressions[0].Value.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("decision %v", rs[0].Expressions[0].Value)
		}
		return m, nil
	}
}

var errRefused = errors.New("the Engine refuses these settings")

// TestPolicyKeepsEveryDecision evaluates the default policy and the policy
// before its rewrite (beforeDir) on the inputs and settings of every policy
// test, the input golden files, and inputs varied from them, and requires
// the same decision: state, reasons, waiting, channel and vote verdicts,
// word for word (a decision field the rewrite added is not compared). It
// also requires the Engine's own evaluation, with the rules of the policy
// data precomputed, to give exactly the plain evaluation's decision.
func TestPolicyKeepsEveryDecision(t *testing.T) {
	cases := captureTestCases(t, policiesDir)
	cases = append(cases, goldenCases(t, defaultRelease(t))...)
	n := 300
	if testing.Short() {
		n = 50
	}
	cases = append(cases, variedCases(t, cases, n, 10)...)
	before := plainEvaluator(t, beforeDir)
	after := plainEvaluator(t, policiesDir)
	engine := engineEvaluator(t, policiesDir)
	states := map[string]int{}
	refused := 0
	for _, c := range cases {
		want, werr := before(c)
		got, gerr := after(c)
		if (werr != nil) != (gerr != nil) {
			t.Errorf("%s: before: %v, after: %v\ninput %v\nrelease %v", c.name, werr, gerr, c.input, c.release)
			continue
		}
		if werr == nil {
			for k, w := range want {
				if g, ok := got[k]; !ok || !reflect.DeepEqual(w, g) {
					t.Errorf("%s: decision.%s before %v, after %v\ninput %v\nrelease %v", c.name, k, w, g, c.input, c.release)
				}
			}
			states[fmt.Sprint(want["state"])]++
		}
		eng, eerr := engine(c)
		if errors.Is(eerr, errRefused) {
			refused++
			continue
		}
		if (eerr != nil) != (gerr != nil) || !reflect.DeepEqual(eng, got) {
			t.Errorf("%s: Engine %v (%v), plain %v (%v)\ninput %v\nrelease %v", c.name, eng, eerr, got, gerr, c.input, c.release)
		}
	}
	t.Logf("%d cases: decisions %v; %d under settings the Engine refuses (compared plain only)", len(cases), states, refused)
}

// TestConcurrentEvaluationsShareThePrecomputedRules evaluates the input
// golden files from several goroutines at once with one Engine, whose
// evaluations all read the same precomputed rule values: each decision
// must be the one a lone evaluation gives (run it with -race).
func TestConcurrentEvaluationsShareThePrecomputedRules(t *testing.T) {
	ctx := context.Background()
	e, err := Load(ctx, policiesDir, WithEvalTimeout(time.Hour)) // -race on a loaded machine is slow
	if err != nil {
		t.Fatal(err)
	}
	cases := goldenCases(t, defaultRelease(t))
	want := make([]gatekeeper.Decision, len(cases))
	inputs := make([]any, len(cases))
	for i, c := range cases {
		in, err := ast.JSON(c.input)
		if err != nil {
			t.Fatal(err)
		}
		inputs[i] = in
		if want[i], err = e.Evaluate(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for round := range 5 {
				for i := range cases {
					k := (i + g + round) % len(cases)
					got, err := e.Evaluate(ctx, inputs[k])
					if err != nil || !reflect.DeepEqual(got, want[k]) {
						t.Errorf("%s: concurrent decision %+v, %v; alone %+v", cases[k].name, got, err, want[k])
					}
				}
			}
		})
	}
	wg.Wait()
}

// TestPrecomputedValuesAreStrict: a precomputed rule value is read by
// every evaluation at once, so it must be immutable. OPA reads a data
// document as a lazy object that converts and caches each key on its
// first Get: shared, two evaluations' first reads of a key write its
// cache at once (a fatal concurrent map write without -race; seen in the
// end-to-end benchmark, where the first evaluations run in parallel,
// which TestConcurrentEvaluationsShareThePrecomputedRules's warm-up
// hides). No value in the revision's cache may hold one.
func TestPrecomputedValuesAreStrict(t *testing.T) {
	e := load(t, policiesDir)
	pre := e.cur.Load().good.pre
	var lazy []string
	var walk func(path string, v ast.Value)
	walk = func(path string, v ast.Value) {
		if fmt.Sprintf("%T", v) == "*ast.lazyObj" {
			lazy = append(lazy, path)
			return
		}
		switch x := v.(type) {
		case ast.Object:
			x.Foreach(func(k, v *ast.Term) { walk(path+"."+k.String(), v.Value) })
		case *ast.Array:
			x.Foreach(func(v *ast.Term) { walk(path+"[]", v.Value) })
		case ast.Set:
			x.Foreach(func(v *ast.Term) { walk(path+"{}", v.Value) })
		}
	}
	for _, ref := range pre.cache.Keys() {
		if v, _ := pre.cache.Get(ref); v != nil {
			walk(ref.String(), v.Value)
		}
	}
	if len(pre.rules) == 0 {
		t.Fatal("no rule was precomputed")
	}
	if len(lazy) > 0 {
		t.Errorf("precomputed values holding a lazy object (mutated by reads): %v", lazy)
	}
}
