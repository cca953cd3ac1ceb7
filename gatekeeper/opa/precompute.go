package opa

import (
	"context"
	"slices"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// precomputed holds the values of the policy's rules that depend on the
// policy data alone, never on the input: the settings checks of
// data.release, the roles, the window's hours. Their value is the same in
// every evaluation of one revision, so they are evaluated once, when the
// revision loads, by the same evaluator, and every evaluation finds them in
// its rule cache (see revisionCache) instead of evaluating them again.
//
// Nothing in the policy says which rules these are: they are found from
// the compiled policy (inputFree). A policy edit that makes a rule read the
// input takes it out of the set by itself.
type precomputed struct {
	cache topdown.VirtualCache // read-only once built
	rules []string             // the precomputed rule refs, for tests
}

// nondeterministic are the builtins whose result may differ between two
// evaluations of the same input and data: a rule calling one is never
// precomputed, whatever OPA's own Nondeterministic flag says.
var nondeterministic = map[string]bool{
	"time.now_ns": true,
	"opa.runtime": true,
	"print":       true,
	"trace":       true,
}

// precompute finds the input-free rules of compiler and evaluates each of
// them once against store, within budget in all: what is not done by then
// (a slow rule, or ctx ending) is left to every evaluation, as is a rule
// whose evaluation fails (a builtin error, a conflict), so that it is
// evaluated, and fails or times out, exactly as it would without this.
func precompute(ctx context.Context, compiler *ast.Compiler, store storage.Store, budget time.Duration) *precomputed {
	p := &precomputed{cache: topdown.NewVirtualCache()}
	refs := inputFree(compiler)
	if len(refs) == 0 {
		return p
	}
	ctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	txn, err := store.NewTransaction(ctx)
	if err != nil {
		return p
	}
	defer store.Abort(ctx, txn)
	x := ast.VarTerm("x")
	for _, ref := range refs {
		if ctx.Err() != nil {
			break
		}
		compileMu.Lock()
		body, err := compiler.QueryCompiler().Compile(ast.NewBody(ast.Equality.Expr(x, ast.NewTerm(ref))))
		compileMu.Unlock()
		if err != nil {
			continue
		}
		stop := topdown.NewCancel()
		unwatch := context.AfterFunc(ctx, stop.Cancel)
		rs, err := topdown.NewQuery(body).
			WithCompiler(compiler).
			WithStore(store).
			WithTransaction(txn).
			WithStrictBuiltinErrors(true).
			// Every evaluation reads these values at once: no lazy
			// object, whose reads write its own cache.
			WithStrictObjects(true).
			WithCancel(stop).
			Run(ctx)
		unwatch()
		if err != nil {
			continue
		}
		switch len(rs) {
		case 0:
			p.cache.Put(ref, nil) // undefined
		case 1:
			p.cache.Put(ref, rs[0][x.Value.(ast.Var)])
		default:
			continue
		}
		p.rules = append(p.rules, ref.String())
	}
	return p
}

// inputFree returns the refs of the rules (no arguments, one ground name
// under their package) whose every definition, default and else branches
// included, depends on the policy data alone: no reference to input, no
// `with`, no nondeterministic builtin, in the rule or in any rule or
// function it uses, however indirectly.
func inputFree(compiler *ast.Compiler) []ast.Ref {
	// direct: whether a rule itself reads the input (or cannot be
	// precomputed for another reason of its own).
	direct := func(r *ast.Rule) bool {
		bad := false
		check := func(x any) {
			ast.WalkRefs(x, func(ref ast.Ref) bool {
				if ref.HasPrefix(ast.InputRootRef) {
					bad = true
				}
				return bad
			})
			ast.WalkExprs(x, func(e *ast.Expr) bool {
				if len(e.With) > 0 {
					bad = true
				}
				if e.IsCall() {
					name := e.Operator().String()
					if nondeterministic[name] {
						bad = true
					}
					if b, ok := ast.BuiltinMap[name]; ok && b.Nondeterministic {
						bad = true
					}
				}
				return bad
			})
		}
		check(r.Head)
		check(r.Body)
		return bad
	}
	memo := map[*ast.Rule]bool{} // rule → input-free
	var free func(r *ast.Rule, seen map[*ast.Rule]bool) bool
	free = func(r *ast.Rule, seen map[*ast.Rule]bool) bool {
		if v, ok := memo[r]; ok {
			return v
		}
		if seen[r] {
			return false // recursion is a compile error; be safe anyway
		}
		seen[r] = true
		ok := !direct(r)
		if ok {
			for dep := range compiler.Graph.Dependencies(r) {
				if d, isRule := dep.(*ast.Rule); !isRule || !free(d, seen) {
					ok = false
					break
				}
			}
		}
		memo[r] = ok
		return ok
	}

	var refs []ast.Ref
	seenRef := map[string]bool{}
	for _, name := range sortedModuleNames(compiler) {
		m := compiler.Modules[name]
		for _, r := range m.Rules {
			if len(r.Head.Args) > 0 {
				continue
			}
			ref := r.Head.Ref()
			if len(ref) != 1 || !ref.IsGround() {
				continue
			}
			// The head's first term is the rule's name as a variable.
			name, ok := ref[0].Value.(ast.Var)
			if !ok {
				continue
			}
			full := m.Package.Path.Append(ast.StringTerm(string(name)))
			key := full.String()
			if seenRef[key] {
				continue
			}
			seenRef[key] = true
			// Every rule at this path must be input-free, and the path
			// must name no rules below it (a.b and a.b.c).
			rules := compiler.GetRulesWithPrefix(full)
			all := len(rules) > 0
			for _, x := range rules {
				if len(x.Head.Args) > 0 || len(x.Head.Ref()) != 1 || !x.Head.Ref().IsGround() {
					all = false
					break
				}
				for e := x; e != nil && all; e = e.Else {
					all = free(e, map[*ast.Rule]bool{})
				}
				if !all {
					break
				}
			}
			if all {
				refs = append(refs, full)
			}
		}
	}
	return refs
}

func sortedModuleNames(c *ast.Compiler) []string {
	names := make([]string, 0, len(c.Modules))
	for n := range c.Modules {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// revisionCache is the rule cache of one evaluation: the revision's
// precomputed values first, then what this evaluation computes. Under a
// `with` (a pushed frame) the precomputed values do not apply, as data may
// be replaced there.
type revisionCache struct {
	pre   topdown.VirtualCache
	own   topdown.VirtualCache
	depth int
}

func (p *precomputed) newCache() topdown.VirtualCache {
	return &revisionCache{pre: p.cache, own: topdown.NewVirtualCache()}
}

func (c *revisionCache) Push() { c.depth++; c.own.Push() }
func (c *revisionCache) Pop()  { c.depth--; c.own.Pop() }

func (c *revisionCache) Get(ref ast.Ref) (*ast.Term, bool) {
	if c.depth == 0 {
		if v, undefined := c.pre.Get(ref); v != nil || undefined {
			return v, undefined
		}
	}
	return c.own.Get(ref)
}

func (c *revisionCache) Put(ref ast.Ref, value *ast.Term) { c.own.Put(ref, value) }

func (c *revisionCache) Keys() []ast.Ref {
	if c.depth == 0 {
		return append(c.pre.Keys(), c.own.Keys()...)
	}
	return c.own.Keys()
}
