package jenkinsapi

import (
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strconv"
	"testing"

	"github.com/bndr/gojenkins"
	"github.com/google/go-cmp/cmp"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

func TestParsePercent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    float64
		wantErr bool
	}{
		{"88.44%", 88.44, false},
		{"+3.37%", 3.37, false},
		{"-0.48%", -0.48, false},
		{"100.00%", 100, false},
		{"0%", 0, false},
		{" 12.5% ", 12.5, false},
		{".5%", 0.5, false},
		{"88.44", 0, true}, // no percent sign
		{"-482", 0, true},  // a count, not a percentage
		{"", 0, true},
		{"%", 0, true},
		{".%", 0, true},
		{"+-1%", 0, true},
		{"1.2.3%", 0, true},
		{"NaN%", 0, true},
		{"Inf%", 0, true},
		{"1e3%", 0, true},
		{"88,44%", 0, true},
		{"0x10%", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := parsePercent(tt.in)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("parsePercent(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

// coverageValues returns every string value of coverage.api.json's
// statistics and deltas: the fuzz seed corpus.
func coverageValues(tb testing.TB) []string {
	tb.Helper()
	var out []string
	for k, v := range fixtureMap(tb, "coverage.api.json") {
		if m, ok := v.(map[string]any); ok && k != "qualityGates" {
			for _, s := range m {
				out = append(out, s.(string))
			}
		}
	}
	slices.Sort(out)
	return out
}

func FuzzParsePercent(f *testing.F) {
	for _, s := range coverageValues(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := parsePercent(s)
		if err != nil {
			if v != 0 {
				t.Fatalf("parsePercent(%q) = %v with error %v", s, v, err)
			}
			return
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			t.Fatalf("parsePercent(%q) = %v", s, v)
		}
		// An accepted value survives being written back.
		back, err := parsePercent(strconv.FormatFloat(v, 'f', -1, 64) + "%")
		if err != nil || back != v {
			t.Fatalf("parsePercent(%q) = %v, which reparses as %v, %v", s, v, back, err)
		}
	})
}

func TestParseCoverageAPIFixture(t *testing.T) {
	t.Parallel()
	got, err := parseCoverageAPI(readFixture(t, "coverage.api.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := &gatekeeper.Coverage{Line: 88.44, Branch: ptr(82.19), Source: "coverage"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("parseCoverageAPI (-want +got):\n%s", diff)
	}
}

func TestRevisions(t *testing.T) {
	t.Parallel()
	pr := gatekeeper.PullKey{Owner: "Codertocat", Repo: "Hello-World", Number: 2}
	branch := gatekeeper.PullKey{Owner: "Codertocat", Repo: "Hello-World"}
	lib := wireAction{
		RemoteURLs: []string{"https://github.com/Codertocat/pipeline-library.git"}, LastBuiltRevision: &wireRevision{libSHA},
		BuildsByBranchName: map[string]wireGitPair{"master": {Marked: wireRevision{libSHA}, Revision: wireRevision{libSHA}}},
	}
	repoMerge := wireAction{
		RemoteURLs: []string{"https://github.com/codertocat/hello-world"}, LastBuiltRevision: &wireRevision{mergeSHA},
		BuildsByBranchName: map[string]wireGitPair{"PR-2": {Marked: wireRevision{headSHA}, Revision: wireRevision{mergeSHA}}},
	}
	repoNoMarked := wireAction{RemoteURLs: []string{"git@github.com:Codertocat/Hello-World.git"}, LastBuiltRevision: &wireRevision{mergeSHA}}
	pull := func(h string) wireAction {
		return wireAction{Revision: &wireSCMRevision{Class: "org.jenkinsci.plugins.github_branch_source.PullRequestSCMRevision", PullHash: h}}
	}
	tests := []struct {
		name     string
		actions  []wireAction
		key      gatekeeper.PullKey
		strategy string
		want     [3]string // head, base, built
	}{
		{"pull hash and merge", []wireAction{{}, lib, {}, repoMerge, pull(headSHA)}, pr, "merge", [3]string{headSHA, "", mergeSHA}},
		{"pull hash wins over marked", []wireAction{repoMerge, pull(baseSHA)}, pr, "merge", [3]string{baseSHA, "", mergeSHA}},
		{"marked revision without pull hash", []wireAction{lib, repoMerge}, pr, "merge", [3]string{headSHA, "", mergeSHA}},
		{"merge build without any head", []wireAction{lib, repoNoMarked}, pr, "merge", [3]string{"", "", mergeSHA}},
		{"plain PR job without any head", []wireAction{repoNoMarked}, pr, "", [3]string{"", "", mergeSHA}},
		{"head build", []wireAction{repoNoMarked}, pr, "head", [3]string{mergeSHA, "", mergeSHA}},
		{"branch build", []wireAction{lib, repoNoMarked}, branch, "", [3]string{mergeSHA, "", mergeSHA}},
		{"only the library was checked out", []wireAction{lib, pull(headSHA)}, pr, "merge", [3]string{headSHA, "", ""}},
		{"library alone is not the repository", []wireAction{lib}, branch, "", [3]string{"", "", ""}},
		{"unknown repository, one BuildData", []wireAction{repoNoMarked}, gatekeeper.PullKey{}, "", [3]string{mergeSHA, "", mergeSHA}},
		{"unknown repository, two BuildData", []wireAction{lib, repoNoMarked}, gatekeeper.PullKey{}, "", [3]string{"", "", ""}},
		{"disagreeing pull hashes", []wireAction{pull(headSHA), pull(baseSHA), repoNoMarked}, pr, "merge", [3]string{"", "", mergeSHA}},
		{"exported target hash", []wireAction{{Revision: &wireSCMRevision{PullHash: headSHA, Target: &wireSCMRevision{Hash: baseSHA}}}}, pr, "merge", [3]string{headSHA, baseSHA, ""}},
		{"disagreeing targets", []wireAction{
			{Revision: &wireSCMRevision{PullHash: headSHA, Target: &wireSCMRevision{Hash: baseSHA}}},
			{Revision: &wireSCMRevision{PullHash: headSHA, Target: &wireSCMRevision{Hash: libSHA}}},
		}, pr, "merge", [3]string{"", "", ""}},
		{"branch revision hash", []wireAction{{Revision: &wireSCMRevision{Hash: baseSHA}}}, branch, "", [3]string{baseSHA, "", ""}},
		{"no actions", nil, pr, "merge", [3]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got [3]string
			got[0], got[1], got[2] = revisions(tt.actions, tt.key, tt.strategy)
			if got != tt.want {
				t.Errorf("revisions = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRemoteRepo(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"https://github.com/Codertocat/Hello-World.git":        "codertocat/hello-world",
		"https://github.com/Codertocat/Hello-World":            "codertocat/hello-world",
		"https://github.com/Codertocat/Hello-World/":           "codertocat/hello-world",
		"https://token@ghe.example.com/Codertocat/Hello-World": "codertocat/hello-world",
		"git@github.com:Codertocat/Hello-World.git":            "codertocat/hello-world",
		"ssh://git@github.com/Codertocat/Hello-World.git":      "codertocat/hello-world",
		"https://github.com/Hello-World.git":                   "",
		"Hello-World":                                          "",
		"":                                                     "",
	}
	for in, want := range tests {
		if got := remoteRepo(in); got != want {
			t.Errorf("remoteRepo(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseStageMap(t *testing.T) {
	t.Parallel()
	got, err := ParseStageMap(" clone = Checkout | Clone ; deploy=Deploy|Integration  tests;")
	if err != nil {
		t.Fatal(err)
	}
	want := StageMap{gatekeeper.StageClone: {"Checkout", "Clone"}, gatekeeper.StageDeploy: {"Deploy", "Integration  tests"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ParseStageMap (-want +got):\n%s", diff)
	}
	idx, err := got.index()
	if err != nil {
		t.Fatal(err)
	}
	mapped := idx.stages([]gojenkins.PipelineNode{{Name: "INTEGRATION TESTS", Status: "FAILED"}, {Name: "Build", Status: "SUCCESS"}})
	if mapped[0].Key != gatekeeper.StageDeploy || mapped[1].Key != "" {
		t.Errorf("mapped keys = %q, %q; want deploy and none", mapped[0].Key, mapped[1].Key)
	}
	for _, bad := range []string{"clone", "=Checkout", "lint=Lint", "clone=", "clone=A|", "clone=A;clone=B", "clone=A;build=a"} {
		if _, err := ParseStageMap(bad); !errors.Is(err, gatekeeper.ErrInvalid) {
			t.Errorf("ParseStageMap(%q) error = %v, want ErrInvalid", bad, err)
		}
	}
	def := DefaultStageMap()
	back, err := ParseStageMap(def.String())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(def, back); diff != "" {
		t.Errorf("DefaultStageMap does not survive String/ParseStageMap (-want +got):\n%s", diff)
	}
}

func FuzzParseStageMap(f *testing.F) {
	f.Add(DefaultStageMap().String())
	f.Add("clone=Checkout|Clone;deploy=Deploy")
	f.Add("build=Build;unit_tests=Test;deploy=Deploy") // the recorded stage view's names
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseStageMap(s)
		if err != nil {
			return
		}
		idx, err := m.index()
		if err != nil {
			t.Fatalf("ParseStageMap(%q) accepted a map index refuses: %v", s, err)
		}
		back, err := ParseStageMap(m.String())
		if err != nil {
			t.Fatalf("ParseStageMap(%q).String() = %q does not parse: %v", s, m.String(), err)
		}
		idx2, _ := back.index()
		if !cmp.Equal(idx, idx2) {
			t.Fatalf("ParseStageMap(%q) changes meaning through String: %v vs %v", s, idx, idx2)
		}
	})
}

// FuzzStageMapping feeds Stage View answers (seeded with the recorded
// describe and every run of the recorded runs list) through gojenkins'
// decoding and the default mapping.
func FuzzStageMapping(f *testing.F) {
	f.Add(readFixture(f, "wfapi.describe.json"))
	var runs []json.RawMessage
	if err := json.Unmarshal(readFixture(f, "wfapi.runs.json"), &runs); err != nil {
		f.Fatal(err)
	}
	for _, r := range runs {
		f.Add([]byte(r))
	}
	def := DefaultStageMap()
	idx, err := def.index()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var run gojenkins.PipelineRun
		if json.Unmarshal(data, &run) != nil {
			return
		}
		got := idx.stages(run.Stages)
		if len(got) != len(run.Stages) {
			t.Fatalf("%d stages in, %d out", len(run.Stages), len(got))
		}
		for i, s := range got {
			if s.Name != run.Stages[i].Name || s.Status != run.Stages[i].Status {
				t.Fatalf("stage %d changed: %+v from %+v", i, s, run.Stages[i])
			}
			// A key is given exactly when the map names the stage.
			named := ""
			for k, names := range def {
				for _, n := range names {
					if normStage(n) == normStage(s.Name) {
						named = k
					}
				}
			}
			if s.Key != named {
				t.Fatalf("stage %q mapped to %q, the map says %q", s.Name, s.Key, named)
			}
		}
	})
}

func TestRecordedRunsMapping(t *testing.T) {
	t.Parallel()
	var runs []gojenkins.PipelineRun
	if err := json.Unmarshal(readFixture(t, "wfapi.runs.json"), &runs); err != nil {
		t.Fatal(err)
	}
	idx, err := DefaultStageMap().index()
	if err != nil {
		t.Fatal(err)
	}
	var got [][]string
	for _, r := range runs {
		var row []string
		for _, s := range idx.stages(r.Stages) {
			row = append(row, s.Key+":"+s.Status)
		}
		got = append(got, row)
	}
	want := [][]string{
		{"build:SUCCESS", "unit_tests:SUCCESS", "deploy:PAUSED_PENDING_INPUT"},
		{"build:SUCCESS", "unit_tests:SUCCESS", "deploy:SUCCESS"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("mapped runs (-want +got):\n%s", diff)
	}
}
