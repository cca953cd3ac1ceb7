package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/releasegate/gatekeeper/gatekeeper/opa"
)

// copyPolicyFolder copies ../../policies into a new folder.
func copyPolicyFolder(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	entries, err := os.ReadDir("../../policies")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join("../../policies", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := writeFile(filepath.Join(dir, e.Name()), string(b)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func replaceIn(t *testing.T, path, old, new string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil || !strings.Contains(string(b), old) {
		t.Fatalf("%s: %v, or no %q in it", path, err, old)
	}
	if err := writeFile(path, strings.Replace(string(b), old, new, 1)); err != nil {
		t.Fatal(err)
	}
}

// TestStageMapAndTeamsFollowPolicy: the Jenkins stage names and the teams
// of the release roles are those of the policy data in force at each call,
// so that an edit to data.yaml applies once the policy reloads, without a
// restart.
func TestStageMapAndTeamsFollowPolicy(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := copyPolicyFolder(t)
	engine, err := opa.Load(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	teams := policyTeams(engine)
	if got := stageMap(engine, log)["clone"]; !slices.Contains(got, "Declarative: Checkout SCM") {
		t.Errorf("clone stage names %q, want data.yaml's", got)
	}
	if got := teams(); !slices.Contains(got, "releasegate/qa") {
		t.Errorf("teams %q", got)
	}

	data := filepath.Join(dir, "data.yaml")
	replaceIn(t, data, `jenkins: ["Clone", "Checkout"`, `jenkins: ["Fetch sources", "Checkout"`)
	replaceIn(t, data, "team: releasegate/qa\n", "team: releasegate/quality\n")
	if _, err := engine.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if got := stageMap(engine, log)["clone"]; !slices.Contains(got, "Fetch sources") || slices.Contains(got, "Clone") {
		t.Errorf("clone stage names after the edit %q, want the edited list", got)
	}
	if got := teams(); !slices.Contains(got, "releasegate/quality") || slices.Contains(got, "releasegate/qa") {
		t.Errorf("teams after the edit %q", got)
	}
}
