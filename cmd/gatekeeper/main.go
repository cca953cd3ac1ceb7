// Command gatekeeper is the release gatekeeper: a webhook server that
// decides, from measured evidence and release managers' Rego policies,
// whether the release pull request may merge.
//
//	gatekeeper serve                                 run the server
//	gatekeeper eval --input FILE [--policies DIR]    decide one input (exit 0 allow, 1 deny, 2 error)
//	gatekeeper policy test [DIR]                     run the policy's Rego unit tests
//	gatekeeper version                               version, commit, policy revision
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/releasegate/gatekeeper/gatekeeper"
	"github.com/releasegate/gatekeeper/gatekeeper/opa"
)

// Set with -ldflags "-X main.version=… -X main.commit=…".
var (
	version = "dev"
	commit  = "none"
)

const usage = `usage:
  gatekeeper serve [flags]                          run the server (gatekeeper serve -h lists the settings)
  gatekeeper eval --input FILE [--policies DIR]     print the decision for a policy input; exit 0 allow, 1 deny, 2 error
  gatekeeper policy test [DIR]                      run the Rego unit tests of a policy folder
  gatekeeper version                                version, commit, policy revision
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

// run is main without the process: it returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		cfg, err := LoadConfig(args[1:], getenv)
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		if err != nil {
			fmt.Fprintf(stderr, "gatekeeper: invalid settings:\n%v\n", err)
			return 2
		}
		if err := serve(ctx, cfg, stderr); err != nil {
			fmt.Fprintf(stderr, "gatekeeper: %v\n", err)
			return 1
		}
		return 0
	case "eval":
		return evalCmd(ctx, args[1:], stdout, stderr, getenv)
	case "policy":
		if len(args) < 2 || args[1] != "test" {
			fmt.Fprint(stderr, usage)
			return 2
		}
		return policyTestCmd(ctx, args[2:], stdout, stderr)
	case "version":
		return versionCmd(args[1:], stdout, getenv)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "gatekeeper: unknown command %q\n%s", args[0], usage)
		return 2
	}
}

func policiesDefault(getenv func(string) string) string {
	if d := getenv("GATEKEEPER_POLICIES"); d != "" {
		return d
	}
	return "./policies"
}

// evalCmd prints the decision for one input document as JSON.
func evalCmd(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	fs := flag.NewFlagSet("eval", flag.ContinueOnError)
	fs.SetOutput(stderr)
	inputPath := fs.String("input", "", "policy input document (JSON); - for standard input")
	dir := fs.String("policies", policiesDefault(getenv), "policy folder")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *inputPath == "" {
		fmt.Fprintln(stderr, "gatekeeper eval: --input is required")
		return 2
	}
	in := os.Stdin
	if *inputPath != "-" {
		f, err := os.Open(*inputPath)
		if err != nil {
			fmt.Fprintf(stderr, "gatekeeper eval: %v\n", err)
			return 2
		}
		defer f.Close()
		in = f
	}
	input, err := opa.DecodeInput(in)
	if err != nil {
		fmt.Fprintf(stderr, "gatekeeper eval: %v\n", err)
		return 2
	}
	dec, err := opa.Eval(ctx, *dir, input)
	out := struct {
		State          string                   `json:"state"`
		Reasons        []string                 `json:"reasons"`
		Waiting        []string                 `json:"waiting"`
		Channel        *string                  `json:"channel"`
		Description    string                   `json:"description"`
		PolicyRevision string                   `json:"policy_revision"`
		Votes          []gatekeeper.VoteVerdict `json:"votes"`
		Error          string                   `json:"error,omitempty"`
	}{State: string(dec.State), Reasons: nonNil(dec.Reasons), Waiting: nonNil(dec.Waiting), PolicyRevision: dec.PolicyRevision, Votes: dec.Votes}
	if out.Votes == nil {
		out.Votes = []gatekeeper.VoteVerdict{}
	}
	if dec.Channel != "" {
		out.Channel = &dec.Channel
	}
	if err != nil {
		out.State, out.Error = "error", err.Error()
	} else {
		out.Description = dec.Description()
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if encErr := enc.Encode(out); encErr != nil {
		fmt.Fprintf(stderr, "gatekeeper eval: %v\n", encErr)
		return 2
	}
	return opa.ExitCode(dec, err)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// policyTestCmd runs the Rego unit tests of a policy folder, with the same
// verdicts as `opa test`.
func policyTestCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("policy test", flag.ContinueOnError)
	fs.SetOutput(stderr)
	verbose := fs.Bool("v", false, "list every test, not only failures")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	dir := "./policies"
	if fs.NArg() > 0 {
		dir = fs.Arg(0)
	}
	_, failed, err := opa.Test(ctx, dir, stdout, *verbose)
	if err != nil {
		fmt.Fprintf(stderr, "gatekeeper policy test: %v\n", err)
		return 2
	}
	if failed > 0 {
		return 1
	}
	return 0
}

// versionCmd prints the build's version and the revision of the policy
// folder it would load.
func versionCmd(args []string, stdout io.Writer, getenv func(string) string) int {
	dir := policiesDefault(getenv)
	if len(args) > 0 {
		dir = args[0]
	}
	rev := "unavailable"
	if e, err := opa.Load(context.Background(), dir); err == nil {
		rev = e.Revision()
	} else {
		rev += " (" + err.Error() + ")"
	}
	fmt.Fprintf(stdout, "gatekeeper %s\ncommit %s\npolicy %s (%s)\n", version, commit, rev, dir)
	return 0
}
