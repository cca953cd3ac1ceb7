package storetest

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// testPolicyRevisions: the store keeps every policy revision saved, by its
// short or full revision, unchanged; saving one again keeps the first; a
// revision never saved, or one that only shares the short prefix, is not
// found.
func testPolicyRevisions(t *testing.T, open Opener) {
	s, _ := openStore(t, open)
	ctx := context.Background()
	first := gatekeeper.PolicyRevision{
		Revision: "3fa2c1e9abcd" + "0123456789abcdef0123456789abcdef0123456789abcdef0123",
		Files: map[string]string{
			"decision.rego":   "package gatekeeper\n\ndecision := {\"state\": \"pending\"}\n",
			"data.yaml":       "release:\n  coverage:\n    minimum: 80\n",
			"lib/people.rego": "package gatekeeper\n",
		},
		SavedAt: start,
	}
	second := gatekeeper.PolicyRevision{
		Revision: "77aa00bb11cc" + "ffffffffffffffffffffffffffffffffffffffffffffffffffff",
		Files:    map[string]string{"decision.rego": "package gatekeeper\n"},
		SavedAt:  start.Add(1),
	}
	for _, r := range []gatekeeper.PolicyRevision{first, second} {
		if err := s.SavePolicy(ctx, r); err != nil {
			t.Fatalf("SavePolicy(%s): %v", r.Short(), err)
		}
	}
	again := first
	again.Files = map[string]string{"decision.rego": "changed"}
	if err := s.SavePolicy(ctx, again); err != nil {
		t.Fatalf("SavePolicy again: %v", err)
	}
	for _, name := range []string{first.Short(), first.Revision} {
		got, err := s.Policy(ctx, name)
		if err != nil {
			t.Fatalf("Policy(%s): %v", name, err)
		}
		if diff := cmp.Diff(first, got); diff != "" {
			t.Errorf("Policy(%s) (-want +got):\n%s", name, diff)
		}
	}
	got, err := s.Policy(ctx, second.Short())
	if err != nil || got.Revision != second.Revision {
		t.Errorf("Policy(%s) = %v, %v", second.Short(), got.Revision, err)
	}
	for _, name := range []string{"000000000000", first.Short() + "ffff", "3fa2", ""} {
		if _, err := s.Policy(ctx, name); !errors.Is(err, gatekeeper.ErrNotFound) {
			t.Errorf("Policy(%q) error %v, want ErrNotFound", name, err)
		}
	}
	if err := s.SavePolicy(ctx, gatekeeper.PolicyRevision{Revision: "abc"}); !errors.Is(err, gatekeeper.ErrInvalid) {
		t.Errorf("SavePolicy of a 3-digit revision: %v, want ErrInvalid", err)
	}
}
