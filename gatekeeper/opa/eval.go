package opa

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// Exit statuses of `gatekeeper eval`.
const (
	ExitAllow = 0 // the decision is success
	ExitDeny  = 1 // the decision is failure or pending
	ExitError = 2 // the policy does not load or evaluate, or the input is malformed
)

// Eval loads the policy folder dir, evaluates input once and returns the
// decision; it backs `gatekeeper eval --input FILE [--policies DIR]`. It is
// exactly what the server would decide for the same input, smoke
// evaluation, the folder's own tests and strict decoding included. Map its outcome to an exit
// status with ExitCode.
func Eval(ctx context.Context, dir string, input map[string]any) (gatekeeper.Decision, error) {
	e, err := Load(ctx, dir)
	if err != nil {
		return gatekeeper.Decision{}, err
	}
	return e.Evaluate(ctx, input)
}

// ExitCode maps the outcome of Eval to the exit status of `gatekeeper
// eval`: success → 0 (allow), failure or pending → 1 (deny), any error →
// 2. Pending denies because the gate is closed until the evidence is in.
func ExitCode(d gatekeeper.Decision, err error) int {
	switch {
	case err != nil:
		return ExitError
	case d.State == gatekeeper.Success:
		return ExitAllow
	case d.State == gatekeeper.Failure, d.State == gatekeeper.Pending:
		return ExitDeny
	}
	return ExitError
}

// DecodeInput reads one policy input document: a single JSON object.
// Numbers are kept exact (json.Number), as OPA would read them.
func DecodeInput(r io.Reader) (map[string]any, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("reading policy input: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var in map[string]any
	if err := dec.Decode(&in); err != nil {
		return nil, fmt.Errorf("decoding policy input: %w: %w", gatekeeper.ErrInvalid, err)
	}
	if in == nil {
		return nil, fmt.Errorf("decoding policy input: %w: want a JSON object, got null", gatekeeper.ErrInvalid)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("decoding policy input: %w: data after the JSON object", gatekeeper.ErrInvalid)
	}
	return in, nil
}
