// Command benchtable prints the issue 10 figures of one `make bench` run as
// one table: figure, anchor figure measured beside it, ratio, target, and
// whether the target held. test/run-bench.sh collects the figures into a
// file, one "name value" a line, and runs
//
//	go run ./test/benchtable -run "<name of the run>" FIGURES
//
// A figure missing from the file (its step failed or was left out) is
// shown as "—" and its target as not measured.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
)

func main() {
	run := flag.String("run", "", "name of the run (printed above the table)")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: benchtable [-run NAME] FIGURES")
		os.Exit(2)
	}
	figs, err := read(flag.Arg(0))
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchtable:", err)
		os.Exit(1)
	}
	if *run != "" {
		fmt.Printf("Run: %s\n\n", *run)
	}
	fmt.Print(table(figs))
}

// read parses a figures file; a name given twice keeps its last value.
func read(path string) (map[string]float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]float64{}
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) != 2 {
			continue
		}
		v, err := strconv.ParseFloat(fields[1], 64)
		if err != nil {
			return nil, fmt.Errorf("%s: %q: %w", path, s.Text(), err)
		}
		out[fields[0]] = v
	}
	return out, s.Err()
}

// row is one line of the table. The ratio is figure/anchor; a target is
// held when the ratio (or, with no anchor, the figure) is at least min or
// at most max.
type row struct {
	what, anchorName string
	figure, anchor   string // names in the figures file; anchor "" for an absolute target
	unit             string
	scale            float64 // figure file value × scale = shown value
	min, max         float64 // target; 0 when not bounded that way
}

var rows = []row{
	{what: "acknowledgement, bbolt: req/s", anchorName: "bare gin", figure: "ack_bbolt_rps", anchor: "ack_bare_rps", unit: "req/s", scale: 1, min: 0.5},
	{what: "acknowledgement, bbolt: p99", anchorName: "bare gin", figure: "ack_bbolt_p99_ms", anchor: "ack_bare_p99_ms", unit: "ms", scale: 1, max: 2},
	{what: "acknowledgement, Redis: req/s", anchorName: "bare gin", figure: "ack_redis_rps", anchor: "ack_bare_rps", unit: "req/s", scale: 1, min: 0.5},
	{what: "acknowledgement, Redis: p99", anchorName: "bare gin", figure: "ack_redis_p99_ms", anchor: "ack_bare_p99_ms", unit: "ms", scale: 1, max: 2},
	{what: "decisions/s, one core, in process", anchorName: "opa run --server, one core", figure: "decide_inproc_per_s", anchor: "decide_opa_server_per_s", unit: "/s", scale: 1, min: 1.5},
	{what: "end-to-end evaluations/s, 1,000 PRs (dry run)", anchorName: "in process, same inputs", figure: "e2e_evals_per_s", anchor: "e2e_inproc_per_s", unit: "/s", scale: 1, min: 0.8},
	{what: "one evaluation, default policy, busy release", figure: "eval_default_ns", unit: "ms", scale: 1e-6, max: 0.6},
	{what: "evaluation with ast.Value input", anchorName: "raw prepared query, map input", figure: "eval_default_ns", anchor: "eval_raw_ns", unit: "ms", scale: 1e-6, max: 0.75},
}

func table(figs map[string]float64) string {
	var b strings.Builder
	b.WriteString("| figure | value | anchor | anchor value | ratio | target | held |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- | --- |\n")
	held, total := 0, 0
	for _, r := range rows {
		total++
		v, ok := figs[r.figure]
		shown, anchorShown, ratio := "—", "—", "—"
		if ok {
			shown = format(v*r.scale, r.unit)
		}
		target := ""
		if r.min > 0 {
			target = "≥ " + strconv.FormatFloat(r.min, 'f', -1, 64)
		} else {
			target = "≤ " + strconv.FormatFloat(r.max, 'f', -1, 64)
		}
		anchorName := "—"
		measure, measured := v*r.scale, ok
		if r.anchor != "" {
			anchorName = r.anchorName
			target += "×"
			a, aok := figs[r.anchor]
			if aok {
				anchorShown = format(a*r.scale, r.unit)
			}
			measured = ok && aok && a > 0
			if measured {
				measure = v / a
				ratio = fmt.Sprintf("%.2f×", measure)
			}
		} else {
			target += " " + r.unit
		}
		verdict := "not measured"
		if measured {
			if (r.min > 0 && measure >= r.min) || (r.max > 0 && measure <= r.max) {
				verdict = "held"
				held++
			} else {
				verdict = "**not held**"
			}
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s |\n", r.what, shown, anchorName, anchorShown, ratio, target, verdict)
	}
	fmt.Fprintf(&b, "\n%d of %d targets held.\n", held, total)
	return b.String()
}

func format(v float64, unit string) string {
	switch {
	case unit == "ms" && v < 10:
		return fmt.Sprintf("%.3f ms", v)
	case unit == "ms":
		return fmt.Sprintf("%.1f ms", v)
	default:
		return fmt.Sprintf("%.0f%s", v, " "+unit)
	}
}
