package opa

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
)

// releaseEdit is one change a release manager makes to policies/data.yaml.
type releaseEdit struct{ old, new string }

// TestPolicyTestsFollowDataEdits is the release manager's workflow on the
// real policy folder: a deliberate change of a setting leaves every policy
// test passing (the rule tests run with fixed settings), and a typo fails
// a data test named after what is wrong.
func TestPolicyTestsFollowDataEdits(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		edits []releaseEdit
		// wantFailing are the tests that must fail; none: all must pass.
		wantFailing []string
	}{
		{name: "raise the coverage minimum", edits: []releaseEdit{{"min: 80\n", "min: 85\n"}}},
		{name: "allow high vulnerabilities", edits: []releaseEdit{{"max_high: 0", "max_high: 3"}}},
		{name: "add a person to QA", edits: []releaseEdit{{"users: []  # add a login: users: [qa-frank]", "users: [qa-frank]"}}},
		{name: "move the window", edits: []releaseEdit{
			{`go_nogo: "16:00"`, `go_nogo: "15:00"`}, {`release: "17:00"`, `release: "16:30"`}, {`close: "19:00"`, `close: "18:30"`},
		}},
		{name: "every deliberate change at once", edits: []releaseEdit{
			{"min: 80\n", "min: 85\n"}, {"max_drop: 1.0", "max_drop: 0.5"}, {"max_high: 0", "max_high: 3"},
			{"min_coverage: 85", "min_coverage: 90"}, {"max_medium: 5", "max_medium: 2"},
			{"users: []  # add a login: users: [qa-frank]", "users: [qa-frank, qa-grace]"},
			{"one_person_one_role: true", "one_person_one_role: false"}, {"verify_in_zenhub: true", "verify_in_zenhub: false"},
			{"      - Friday\n", ""}, {"enforce: true", "enforce: false"}, {"timezone: Asia/Kolkata", "timezone: Europe/Berlin"},
			{"zone_label: IST", "zone_label: CET"}, {"label: emergency-release", "label: hotfix"},
			{"veto_roles:\n      - qa", "veto_roles:\n      - qa\n      - sre"},
			{"      - DR plan\n", ""},
		}},
		{
			name:        "a word for a number",
			edits:       []releaseEdit{{"min: 80\n", "min: \"eighty\"\n"}},
			wantFailing: []string{"test_data_yaml_coverage_min_is_a_percentage", "test_data_yaml_gives_no_policy_data_reasons"},
		},
		{
			name:        "a negative limit",
			edits:       []releaseEdit{{"max_high: 0", "max_high: -1"}},
			wantFailing: []string{"test_data_yaml_max_high_is_a_count"},
		},
		{
			name:        "an unknown role id in the quorum",
			edits:       []releaseEdit{{"quorum_roles:\n      - module_lead", "quorum_roles:\n      - module_leed"}},
			wantFailing: []string{"test_data_yaml_quorum_roles_are_roles", "test_data_yaml_gives_no_policy_data_reasons"},
		},
		{
			name:        "an unknown role id in the emergency roles",
			edits:       []releaseEdit{{"extra_approval_roles:\n      - release_manager", "extra_approval_roles:\n      - release_managers"}},
			wantFailing: []string{"test_data_yaml_emergency_roles_are_roles", "test_data_yaml_gives_no_policy_data_reasons"},
		},
		{
			name:        "an emergency role every release needs",
			edits:       []releaseEdit{{"extra_approval_roles:\n      - release_manager", "extra_approval_roles:\n      - sre"}},
			wantFailing: []string{"test_data_yaml_emergency_roles_are_not_needed_by_every_release", "test_data_yaml_gives_no_policy_data_reasons"},
		},
		{
			name:        "a stage removed",
			edits:       []releaseEdit{{"      - key: push\n        display: image push\n", ""}, {`        jenkins: ["Push", "Image push", "Push image"]` + "\n", ""}},
			wantFailing: []string{"test_data_yaml_has_the_seven_release_stages"},
		},
		{
			name:        "a misspelt stage key",
			edits:       []releaseEdit{{"key: unit_tests", "key: unittests"}},
			wantFailing: []string{"test_data_yaml_has_the_seven_release_stages"},
		},
		{
			name:        "users not a list",
			edits:       []releaseEdit{{"users: []  # add a login: users: [qa-frank]", "users: qa-frank"}},
			wantFailing: []string{"test_data_yaml_role_users_are_lists_of_logins", "test_data_yaml_gives_no_policy_data_reasons"},
		},
		{
			name:        "an unknown time zone",
			edits:       []releaseEdit{{"timezone: Asia/Kolkata", "timezone: Asia/Calcutta-ish"}},
			wantFailing: []string{"test_data_yaml_window_timezone_is_known"},
		},
		{
			name:        "a time not HH:MM",
			edits:       []releaseEdit{{`release: "17:00"`, `release: "5pm"`}},
			wantFailing: []string{"test_data_yaml_window_times_are_hh_mm", "test_data_yaml_gives_no_policy_data_reasons"},
		},
		{
			name:        "a window that closes before it opens",
			edits:       []releaseEdit{{`close: "19:00"`, `close: "16:00"`}},
			wantFailing: []string{"test_data_yaml_window_release_is_before_close", "test_data_yaml_gives_no_policy_data_reasons"},
		},
		{
			name:        "a weekday in lower case",
			edits:       []releaseEdit{{"- Friday", "- friday"}},
			wantFailing: []string{"test_data_yaml_window_weekdays_are_weekdays", "test_data_yaml_gives_no_policy_data_reasons"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := copyPolicies(t)
			for _, e := range tt.edits {
				edit(t, filepath.Join(dir, "data.yaml"), e.old, e.new)
			}
			var out bytes.Buffer
			passed, failed, err := Test(context.Background(), dir, &out, false)
			if err != nil {
				t.Fatalf("Test: %v", err)
			}
			var got []string
			for _, line := range strings.Split(out.String(), "\n") {
				if name, ok := strings.CutPrefix(line, "data.gatekeeper_test."); ok && strings.Contains(name, ": FAIL") {
					got = append(got, strings.SplitN(name, ":", 2)[0])
				}
			}
			slices.Sort(got)
			got = slices.Compact(got) // each failure is listed, then detailed
			want := slices.Sorted(slices.Values(tt.wantFailing))
			if !slices.Equal(got, want) || failed != len(want) || passed == 0 {
				t.Errorf("Test = %d passed, %d failed %v; want failing exactly %v:\n%s", passed, failed, got, want, out.String())
			}
		})
	}
}

// TestRuleTestsUseFixedSettings checks every rule test of the real policy
// folder: each expression that evaluates the policy (data.gatekeeper)
// replaces data.release, with the fixed settings of settings_test.rego or
// a variation of them, so that no rule test depends on the live data.yaml.
// Only the tests of data_test.rego read the live settings, on purpose.
func TestRuleTestsUseFixedSettings(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join(policiesDir, "*_test.rego"))
	if err != nil {
		t.Fatal(err)
	}
	policy := ast.MustParseRef("data.gatekeeper")
	release := ast.MustParseRef("data.release")
	var checked int
	for _, f := range files {
		if filepath.Base(f) == "data_test.rego" {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m, err := ast.ParseModuleWithOpts(f, string(src), ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			t.Fatal(err)
		}
		// Resolve the import `data.gatekeeper` as the compiler would: a
		// reference to gatekeeper.x is a reference to data.gatekeeper.x.
		readsPolicy := func(r ast.Ref) bool {
			if r.HasPrefix(policy) {
				return true
			}
			v, ok := r[0].Value.(ast.Var)
			return ok && v == "gatekeeper"
		}
		for _, rule := range m.Rules {
			name := rule.Head.Ref().String()
			if !strings.HasPrefix(name, "test_") {
				continue
			}
			checked++
			ast.WalkExprs(rule, func(x *ast.Expr) bool {
				evaluates := false
				ast.WalkRefs(x, func(r ast.Ref) bool {
					evaluates = evaluates || readsPolicy(r)
					return false
				})
				if !evaluates {
					return false
				}
				if !slices.ContainsFunc(x.With, func(w *ast.With) bool { return w.Target.Value.Compare(release) == 0 }) {
					t.Errorf("%s:%d: %s evaluates the policy without `with data.release as fixed_release`: %s", filepath.Base(f), x.Location.Row, name, x)
				}
				return true
			})
		}
	}
	if checked < 100 {
		t.Errorf("checked %d rule tests, want the 100 and more of %s", checked, policiesDir)
	}
}
