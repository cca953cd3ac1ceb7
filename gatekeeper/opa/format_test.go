package opa

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/open-policy-agent/opa/v1/format"
)

// TestPoliciesAreFormatted checks that `opa fmt` would leave every Rego
// file of the default policy unchanged: format.Source is what it runs.
func TestPoliciesAreFormatted(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join(policiesDir, "*.rego"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no .rego files in %s", policiesDir)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			t.Parallel()
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			got, err := format.Source(f, src)
			if err != nil {
				t.Fatalf("formatting: %v", err)
			}
			if diff := cmp.Diff(string(src), string(got)); diff != "" {
				t.Errorf("opa fmt would change %s (-file +formatted):\n%s", f, diff)
			}
		})
	}
}
