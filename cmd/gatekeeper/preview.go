package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/releasegate/gatekeeper/gatekeeper/opa"
	"github.com/releasegate/gatekeeper/webhooks"
)

const previewUsage = `usage: gatekeeper preview --policies DIR [--server URL] [--json]

Sends the candidate policy folder DIR to a running gatekeeper, which runs
the candidate's own tests, then evaluates the latest evidence of every open
release pull request under the candidate beside the policy in force, and
lists the verdicts that flip, with the reasons on each side. Nothing is
posted and nothing is stored. The CLI sends GITHUB_TOKEN as Bearer.
Exit 0 nothing flips, 1 something flips, 2 error (the candidate does not
load, or its own tests fail: the server would refuse it).

flags:
`

func previewCmd(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	fs := flag.NewFlagSet("preview", flag.ContinueOnError)
	dir := fs.String("policies", "", "the candidate policy folder (required)")
	server := fs.String("server", defaultServer, "the gatekeeper to ask")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	help, err := parseArgs(fs, args, stderr)
	switch {
	case help:
		fmt.Fprint(stdout, previewUsage)
		printDefaults(stdout, fs)
		return 0
	case err != nil:
		fmt.Fprint(stderr, previewUsage)
		printDefaults(stderr, fs)
		return 2
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "gatekeeper preview: unexpected arguments: %s\n", strings.Join(fs.Args(), " "))
		return 2
	case *dir == "":
		fmt.Fprintf(stderr, "gatekeeper preview: --policies is required\n%s", previewUsage)
		return 2
	}
	files, err := opa.ReadFiles(*dir)
	if err != nil {
		fmt.Fprintf(stderr, "gatekeeper preview: %v\n", err)
		return 2
	}
	client, err := newAPIClient(*server, getenv)
	if err != nil {
		fmt.Fprintf(stderr, "gatekeeper preview: %v\n", err)
		return 2
	}
	var res webhooks.PreviewResult
	if err := client.do(ctx, "POST", "/api/v1/preview", webhooks.PreviewRequest{Files: files}, &res); err != nil {
		fmt.Fprintf(stderr, "gatekeeper preview: %v\n", err)
		return 2
	}
	code := 0
	switch {
	case res.Error != "" || res.Tests.Failed > 0:
		code = 2
	case res.Flips > 0:
		code = 1
	}
	if *asJSON {
		if err := writeJSON(stdout, res); err != nil {
			return 2
		}
		return code
	}
	fmt.Fprintf(stdout, "candidate %s: %d tests passed, %d failed\n", res.Candidate, res.Tests.Passed, res.Tests.Failed)
	if res.Tests.Failed > 0 {
		fmt.Fprintf(stdout, "\nthe candidate's own tests fail (the server would refuse it):\n%s\n", res.Tests.Output)
	}
	if res.Error != "" {
		fmt.Fprintf(stdout, "the candidate does not load: %s\n", res.Error)
		return code
	}
	fmt.Fprintf(stdout, "%d open release pull requests, %d flip (in force %s → candidate %s)\n", len(res.Rows), res.Flips, res.InForce, res.Candidate)
	for _, r := range res.Rows {
		mark := "  "
		switch {
		case r.Flips:
			mark = "≠ "
		case r.Changed:
			mark = "~ "
		}
		fmt.Fprintf(stdout, "%s%s %s: %s → %s\n", mark, r.Key, r.Title, r.InForce.State, r.Candidate.State)
		if r.Flips || r.Changed {
			fmt.Fprintf(stdout, "    in force:  %s%s\n", verdict(r.InForce), suffix(r.InForceError))
			fmt.Fprintf(stdout, "    candidate: %s%s\n", verdict(r.Candidate), suffix(r.CandidateError))
		}
	}
	return code
}

func suffix(err string) string {
	if err == "" {
		return ""
	}
	return " (" + err + ")"
}
