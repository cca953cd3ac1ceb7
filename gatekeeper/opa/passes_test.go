package opa

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestDefaultPolicyPasses: the shipped policy with the shipped data.yaml
// names every requirement a complete release meets, with its evidence, as
// BuildInput builds the input from the recorded pull request; and nothing
// that is still awaited.
func TestDefaultPolicyPasses(t *testing.T) {
	t.Parallel()
	e := load(t, policiesDir)
	got, err := e.Evaluate(context.Background(), input(complete(t, evidence(t))))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"pull request open, not a draft, changes into master gated",
		"check sonarqube passed",
		"Jenkins PR-merge build #57 of ec26c3e on master f95f852 succeeded (confirmed by Jenkins)",
		"build stage clone passed on build #57",
		"build stage build + image passed on build #57",
		"build stage unit tests + coverage passed on build #57",
		"build stage vulnerability scan passed on build #57",
		"build stage image push passed on build #57",
		"build stage Helm chart publish passed on build #57",
		"build stage deploy + integration tests passed on build #57",
		"812 unit tests ran, none failing (build #57)",
		"coverage 84.2% ≥ 80%",
		"coverage 84.2% is 0.7 points below master 84.9% (max drop 1)",
		"vulnerability scan: 0 critical (max 0), 0 high (max 0)",
		"Helm chart hello-world-2-14-3-1a2b3c4 is for commit 1a2b3c4",
		"approved by module lead @lead-bob on the head",
		"approved by SRE @sre-dan on the head",
		"approved by QA @qa-carol on the head",
		"approved by management @vp-erin on the head",
		"no NOGO stands",
		"GO by module lead @lead-bob on the head",
		"GO by SRE @sre-dan on the head",
		"GO by QA @qa-carol on the head",
		"the release links Codertocat/Hello-World#1",
		"every merged pull request links an issue (1 merged)",
		"the linked issue found in ZenHub",
		"checklist ticked: Release notes, DR plan, Unit tests listed",
		"inside the release window (Friday 17:00–19:00 IST)",
	}
	if diff := cmp.Diff(want, got.Passes); diff != "" || got.State != "success" {
		t.Errorf("state %s, passes (-want +got):\n%s\nall: %q", got.State, diff, got.Passes)
	}
	// Today's evidence alone: no build, no approvals counted yet.
	got, err = e.Evaluate(context.Background(), input(evidence(t)))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range got.Passes {
		for _, w := range got.Waiting {
			if p == w {
				t.Errorf("%q both passes and is awaited", p)
			}
		}
	}
	if want := []string{"pull request open, not a draft, changes into master gated", "check sonarqube passed", "no NOGO stands", "inside the release window (Friday 17:00–19:00 IST)"}; !cmp.Equal(want, got.Passes) {
		t.Errorf("today's passes: %q", got.Passes)
	}
}
