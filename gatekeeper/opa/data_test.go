package opa_test

import (
	"context"
	"testing"

	"github.com/releasegate/gatekeeper/gatekeeper/opa"
)

func TestDataFollowsTheRevisionInForce(t *testing.T) {
	t.Parallel()
	e := opa.New(t.TempDir())
	if got := e.Data("release"); got != nil {
		t.Errorf("Data before any load = %v, want nil", got)
	}
	e, err := opa.Load(context.Background(), "../../policies")
	if err != nil {
		t.Fatal(err)
	}
	roles, ok := e.Data("release", "approvals", "roles").([]any)
	if !ok || len(roles) == 0 {
		t.Fatalf("release.approvals.roles = %v, want the roles of policies/data.yaml", e.Data("release", "approvals", "roles"))
	}
	if got := e.Data("release", "no", "such", "path"); got != nil {
		t.Errorf("a missing path = %v, want nil", got)
	}
}
