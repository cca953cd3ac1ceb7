package githubapi

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestEndpointsListsEveryEndpoint: Endpoints names every Endpoint… constant
// of the package, so that an endpoint added later is shown at zero in
// /metrics too.
func TestEndpointsListsEveryEndpoint(t *testing.T) {
	t.Parallel()
	pkgs, err := parser.ParseDir(token.NewFileSet(), ".", func(fi fs.FileInfo) bool {
		return !strings.HasSuffix(fi.Name(), "_test.go")
	}, 0)
	if err != nil {
		t.Fatal(err)
	}
	var declared []string
	for _, f := range pkgs["githubapi"].Files {
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.CONST {
				continue
			}
			for _, spec := range g.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, name := range vs.Names {
					if !strings.HasPrefix(name.Name, "Endpoint") || i >= len(vs.Values) {
						continue
					}
					if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
						v, _ := strconv.Unquote(lit.Value)
						declared = append(declared, v)
					}
				}
			}
		}
	}
	got := append([]string(nil), Endpoints()...)
	sort.Strings(declared)
	sort.Strings(got)
	if len(declared) == 0 {
		t.Fatal("no Endpoint constant found")
	}
	if diff := cmp.Diff(declared, got); diff != "" {
		t.Errorf("Endpoints() (-declared +listed):\n%s", diff)
	}
}
