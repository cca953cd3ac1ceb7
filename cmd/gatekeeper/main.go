// Command gatekeeper is the release gatekeeper: a webhook server that
// decides, from measured evidence and release managers' Rego policies,
// whether the release pull request may merge.
//
//	gatekeeper serve                                 run the server
//	gatekeeper eval --input FILE [--policies DIR]    decide one input (exit 0 allow, 1 deny, 2 error)
//	gatekeeper policy test [DIR]                     run the policy's Rego unit tests
//	gatekeeper version [DIR]                         version, commit, policy revision
//	gatekeeper preview --policies DIR [--server URL] [--json]
//	gatekeeper replay DECISION_ID [--policies DIR] [--server URL] [--json]
//	gatekeeper help [COMMAND]                        usage; COMMAND -h is the same
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
	"strings"
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
  gatekeeper version [DIR]                          version, commit, policy revision
  gatekeeper preview --policies DIR [--server URL] [--json]
                                                    compare a candidate policy with the one in force on every open release PR; exit 0 none flip, 1 some flip, 2 error
  gatekeeper replay DECISION_ID [--policies DIR] [--server URL] [--json]
                                                    evaluate a stored decision again; exit 0 same result, 1 different, 2 error
  gatekeeper help [COMMAND]                         this text, or a command's (as COMMAND -h prints it)
`

const evalUsage = `usage: gatekeeper eval --input FILE [--policies DIR]

Prints, as JSON, the decision of a policy folder for one policy input
document (its schema is in policies/README.md). Nothing is posted.
Exit 0 allow (success), 1 deny (pending or failure), 2 error.

flags:
`

const policyUsage = `usage: gatekeeper policy test [-v] [DIR]

Runs the Rego unit tests (*_test.rego) of the policy folder DIR (default
./policies), with the same verdicts as opa test.
Exit 0 when every test passes, 1 when one fails, 2 on error.

flags:
`

const versionUsage = `usage: gatekeeper version [DIR]

Prints the build's version and commit, and the revision of the policy
folder DIR (default $GATEKEEPER_POLICIES, else ./policies) as serve would
load it.
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
			serveUsage(stdout)
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
		switch {
		case len(args) == 2 && isHelp(args[1]):
			fmt.Fprint(stdout, policyUsage)
			fs, _ := policyTestFlags()
			printDefaults(stdout, fs)
			return 0
		case len(args) < 2 || args[1] != "test":
			fmt.Fprintf(stderr, "gatekeeper policy: the only subcommand is test\n%s", policyUsage)
			return 2
		}
		return policyTestCmd(ctx, args[2:], stdout, stderr)
	case "version":
		return versionCmd(args[1:], stdout, stderr, getenv)
	case "replay":
		return replayCmd(ctx, args[1:], stdout, stderr, getenv)
	case "preview":
		return previewCmd(ctx, args[1:], stdout, stderr, getenv)
	case "help", "-h", "-help", "--help":
		if len(args) == 1 {
			fmt.Fprint(stdout, usage)
			return 0
		}
		switch args[1] {
		case "serve", "eval", "policy", "version", "replay", "preview":
			if len(args) == 2 {
				return run(ctx, []string{args[1], "-h"}, stdout, stderr, getenv)
			}
		}
		fmt.Fprintf(stderr, "gatekeeper help: no command %q\n%s", strings.Join(args[1:], " "), usage)
		return 2
	default:
		fmt.Fprintf(stderr, "gatekeeper: unknown command %q\n%s", args[0], usage)
		return 2
	}
}

// isHelp reports whether arg asks for help. A lone "help" counts too, as
// no command takes a file or folder by that name from a newcomer.
func isHelp(arg string) bool {
	switch arg {
	case "-h", "-help", "--help", "help":
		return true
	}
	return false
}

// parseArgs parses a command's flags with its errors on stderr. help is
// true when the arguments ask for help (-h, --help, or a lone "help"):
// the caller prints its usage on stdout and exits 0.
func parseArgs(fs *flag.FlagSet, args []string, stderr io.Writer) (help bool, err error) {
	fs.SetOutput(stderr)
	fs.Usage = func() {} // the caller prints usage where it belongs
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		return true, nil
	} else if err != nil {
		return false, err
	}
	return fs.NArg() == 1 && fs.Arg(0) == "help", nil
}

// printDefaults writes the flags of fs to w.
func printDefaults(w io.Writer, fs *flag.FlagSet) {
	fs.SetOutput(w)
	fs.PrintDefaults()
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
	inputPath := fs.String("input", "", "policy input document (JSON); - for standard input")
	dir := fs.String("policies", policiesDefault(getenv), "policy folder")
	help, err := parseArgs(fs, args, stderr)
	switch {
	case help:
		fmt.Fprint(stdout, evalUsage)
		printDefaults(stdout, fs)
		return 0
	case err != nil:
		fmt.Fprint(stderr, evalUsage)
		printDefaults(stderr, fs)
		return 2
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "gatekeeper eval: unexpected arguments: %s\n", strings.Join(fs.Args(), " "))
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
		Passes         []string                 `json:"passes"`
		Error          string                   `json:"error,omitempty"`
	}{State: string(dec.State), Reasons: nonNil(dec.Reasons), Waiting: nonNil(dec.Waiting), PolicyRevision: dec.PolicyRevision, Votes: dec.Votes, Passes: nonNil(dec.Passes)}
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
	if encErr := writeJSON(stdout, out); encErr != nil {
		fmt.Fprintf(stderr, "gatekeeper eval: %v\n", encErr)
		return 2
	}
	return opa.ExitCode(dec, err)
}

// writeJSON writes v to w as indented JSON, the commands' --json output.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
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
	fs, verbose := policyTestFlags()
	help, err := parseArgs(fs, args, stderr)
	switch {
	case help:
		fmt.Fprint(stdout, policyUsage)
		printDefaults(stdout, fs)
		return 0
	case err != nil:
		fmt.Fprint(stderr, policyUsage)
		printDefaults(stderr, fs)
		return 2
	case fs.NArg() > 1:
		fmt.Fprintf(stderr, "gatekeeper policy test: one folder at most, not %s\n", strings.Join(fs.Args(), " "))
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

// policyTestFlags are the flags of policy test.
func policyTestFlags() (*flag.FlagSet, *bool) {
	fs := flag.NewFlagSet("policy test", flag.ContinueOnError)
	return fs, fs.Bool("v", false, "list every test, not only failures")
}

// versionCmd prints the build's version and the revision of the policy
// folder it would load.
func versionCmd(args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	help, err := parseArgs(fs, args, stderr)
	switch {
	case help:
		fmt.Fprint(stdout, versionUsage)
		return 0
	case err != nil:
		fmt.Fprint(stderr, versionUsage)
		return 2
	case fs.NArg() > 1:
		fmt.Fprintf(stderr, "gatekeeper version: one folder at most, not %s\n", strings.Join(fs.Args(), " "))
		return 2
	}
	dir := policiesDefault(getenv)
	if fs.NArg() == 1 {
		dir = fs.Arg(0)
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
