package opa

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

func TestEvalExitCode(t *testing.T) {
	t.Parallel()
	broken := writePolicy(t, map[string]string{"decision.rego": "package gatekeeper\n\ndecision := {\n"})
	draft := input(complete(t, evidence(t))).Map()
	draft["pull_request"].(map[string]any)["draft"] = true
	// Complete evidence on a Saturday waits for the release window.
	weekend := input(complete(t, evidence(t))).Map()
	weekend["now"] = now.Add(24 * time.Hour).Format(time.RFC3339)
	tests := []struct {
		name     string
		dir      string
		input    map[string]any
		want     gatekeeper.State
		wantExit int
	}{
		{"success allows", policiesDir, input(complete(t, evidence(t))).Map(), gatekeeper.Success, ExitAllow},
		{"failure denies", policiesDir, draft, gatekeeper.Failure, ExitDeny},
		{"pending denies", policiesDir, weekend, gatekeeper.Pending, ExitDeny},
		{"broken policy errors", broken, input(evidence(t)).Map(), "", ExitError},
		{"missing folder errors", t.TempDir() + "/nope", input(evidence(t)).Map(), "", ExitError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d, err := Eval(context.Background(), tt.dir, tt.input)
			if d.State != tt.want {
				t.Errorf("Eval state = %q (err %v), want %q", d.State, err, tt.want)
			}
			if (err != nil) != (tt.wantExit == ExitError) {
				t.Errorf("Eval error = %v", err)
			}
			if got := ExitCode(d, err); got != tt.wantExit {
				t.Errorf("ExitCode = %d, want %d", got, tt.wantExit)
			}
		})
	}
}

func TestExitCodeUnknownStateIsError(t *testing.T) {
	t.Parallel()
	for _, st := range []gatekeeper.State{"", gatekeeper.Error, "ok"} {
		if got := ExitCode(gatekeeper.Decision{State: st}, nil); got != ExitError {
			t.Errorf("ExitCode(state %q) = %d, want %d", st, got, ExitError)
		}
	}
	if got := ExitCode(gatekeeper.Decision{State: gatekeeper.Success}, fmt.Errorf("x: %w", gatekeeper.ErrPolicy)); got != ExitError {
		t.Errorf("ExitCode(success, error) = %d, want %d", got, ExitError)
	}
}

func TestDecodeInput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		want    map[string]any
		wantErr bool
	}{
		{name: "object", in: `{"version": 1, "now_ns": 1718359200000000001, "pull_request": null}`,
			want: map[string]any{"version": jsonNumber("1"), "now_ns": jsonNumber("1718359200000000001"), "pull_request": nil}},
		{name: "null", in: `null`, wantErr: true},
		{name: "array", in: `[1]`, wantErr: true},
		{name: "trailing data", in: `{} {}`, wantErr: true},
		{name: "malformed", in: `{"a":`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := DecodeInput(strings.NewReader(tt.in))
			if tt.wantErr {
				if !errors.Is(err, gatekeeper.ErrInvalid) {
					t.Errorf("DecodeInput error = %v, want ErrInvalid", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("DecodeInput (-want +got):\n%s", diff)
			}
		})
	}
}

// TestEvalOfDecodedInput runs what `gatekeeper eval` runs: an input file
// (here, the JSON of a BuildInput document) decoded, then evaluated.
func TestEvalOfDecodedInput(t *testing.T) {
	t.Parallel()
	in, err := DecodeInput(strings.NewReader(mustJSON(t, input(complete(t, evidence(t))))))
	if err != nil {
		t.Fatal(err)
	}
	d, err := Eval(context.Background(), policiesDir, in)
	if err != nil || d.State != gatekeeper.Success || ExitCode(d, err) != ExitAllow {
		t.Errorf("Eval = %+v, %v; want success, exit 0", d, err)
	}
}
