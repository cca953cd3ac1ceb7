package opa

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// configMapMount lays files out as the kubelet mounts a ConfigMap volume
// (its atomic writer): the files in a hidden, timestamped folder, a
// "..data" link to that folder, and one link per file to "..data/<name>".
// The Helm chart (deploy/helm) mounts the policy folder this way.
type configMapMount struct {
	t   testing.TB
	dir string
	gen int
}

func newConfigMapMount(t testing.TB, files map[string]string) *configMapMount {
	t.Helper()
	m := &configMapMount{t: t, dir: t.TempDir()}
	m.update(files)
	for name := range files {
		if err := os.Symlink(filepath.Join("..data", name), filepath.Join(m.dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

// update writes a new generation and swaps "..data" to it by renaming a
// new link over the old one, then removes the old generation: what the
// kubelet does when the ConfigMap changes.
func (m *configMapMount) update(files map[string]string) {
	m.t.Helper()
	old, _ := os.Readlink(filepath.Join(m.dir, "..data"))
	m.gen++
	gen := "..2026_12_06_18_00_00." + strings.Repeat("0", 8) + string(rune('0'+m.gen))
	for name, content := range files {
		writeFile(m.t, filepath.Join(m.dir, gen, name), content)
	}
	tmp := filepath.Join(m.dir, "..data_tmp")
	if err := os.Symlink(gen, tmp); err != nil {
		m.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(m.dir, "..data")); err != nil {
		m.t.Fatal(err)
	}
	if old != "" {
		if err := os.RemoveAll(filepath.Join(m.dir, old)); err != nil {
			m.t.Fatal(err)
		}
	}
}

// readPolicies reads the real policy folder's files, by name.
func readPolicies(t testing.TB) map[string]string {
	t.Helper()
	entries, err := os.ReadDir(policiesDir)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(policiesDir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		files[e.Name()] = string(b)
	}
	return files
}

// TestConfigMapMountServesTheSameRevisionAndReloadsAnEdit: a policy folder
// mounted from a ConfigMap serves exactly the revision of the same files in
// a plain folder (the hidden generation folder is not read a second time),
// and an edit of the ConfigMap, which arrives as a swap of "..data", is a
// new revision after one Reload: a release manager's policy change reaches
// a running replica without a restart.
func TestConfigMapMountServesTheSameRevisionAndReloadsAnEdit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	files := readPolicies(t)
	plain := load(t, writePolicy(t, files))
	m := newConfigMapMount(t, files)
	e := load(t, m.dir)
	if got, want := e.Revision(), plain.Revision(); got != want {
		t.Fatalf("revision from a ConfigMap mount = %s, want %s, the same files' revision in a plain folder", got, want)
	}
	if got := e.Data("release", "coverage", "min"); !numberIs(got, 80) {
		t.Fatalf("release.coverage.min = %v, want 80 before the edit", got)
	}

	edited := map[string]string{}
	for name, content := range files {
		edited[name] = content
	}
	const old = "    min: 80\n"
	if !strings.Contains(edited["data.yaml"], old) {
		t.Fatalf("data.yaml no longer holds %q: adapt this test", old)
	}
	edited["data.yaml"] = strings.Replace(edited["data.yaml"], old, "    min: 82\n", 1)
	m.update(edited)

	changed, err := e.Reload(ctx)
	if err != nil || !changed {
		t.Fatalf("Reload after the ConfigMap edit = %v, %v; want true, nil", changed, err)
	}
	if e.Revision() == plain.Revision() {
		t.Fatal("revision unchanged after the ConfigMap edit")
	}
	if got := e.Data("release", "coverage", "min"); !numberIs(got, 82) {
		t.Fatalf("release.coverage.min = %v after the edit, want 82", got)
	}
	if changed, err := e.Reload(ctx); err != nil || changed {
		t.Fatalf("second Reload = %v, %v; want false, nil (nothing changed)", changed, err)
	}
}

// numberIs reports whether v, a number decoded from policy data, is n.
func numberIs(v any, n int) bool {
	return fmt.Sprint(v) == strconv.Itoa(n)
}
