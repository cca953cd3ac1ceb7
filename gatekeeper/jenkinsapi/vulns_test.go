package jenkinsapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// trivyDir holds byte-for-byte copies of Trivy's own integration goldens
// (see its README.md).
const trivyDir = "../../test/testdata/fixtures/trivy"

func readTrivy(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(trivyDir, name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// trivyVariant derives a report from the recorded alpine-310 report; mutate
// receives its decoded vulnerabilities, in order: CVE-2019-1549 and
// CVE-2019-1551 in libcrypto1.1, then the same two in libssl1.1.
func trivyVariant(tb testing.TB, mutate func(m map[string]any, vulns []any)) []byte {
	tb.Helper()
	var m map[string]any
	if err := json.Unmarshal(readTrivy(tb, "alpine-310.json.golden"), &m); err != nil {
		tb.Fatal(err)
	}
	res := m["Results"].([]any)[0].(map[string]any)
	mutate(m, res["Vulnerabilities"].([]any))
	return mustJSON(tb, m)
}

// sarifVariant derives a log from the recorded alpine-310 SARIF log;
// mutate receives the run's two rules and four results.
func sarifVariant(tb testing.TB, mutate func(m map[string]any, rules, results []any)) []byte {
	tb.Helper()
	var m map[string]any
	if err := json.Unmarshal(readTrivy(tb, "alpine-310.sarif.golden"), &m); err != nil {
		tb.Fatal(err)
	}
	run := m["runs"].([]any)[0].(map[string]any)
	rules := run["tool"].(map[string]any)["driver"].(map[string]any)["rules"].([]any)
	mutate(m, rules, run["results"].([]any))
	return mustJSON(tb, m)
}

func obj(v any) map[string]any { return v.(map[string]any) }

func TestParseTrivy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		body    []byte
		want    gatekeeper.VulnCounts
		wantErr bool
	}{
		{
			name: "recorded report: two CVEs in two packages",
			body: readTrivy(t, "alpine-310.json.golden"),
			want: gatekeeper.VulnCounts{Medium: 4},
		},
		{
			name: "every severity",
			body: trivyVariant(t, func(_ map[string]any, v []any) {
				obj(v[0])["Severity"] = "CRITICAL"
				obj(v[1])["Severity"] = "HIGH"
				obj(v[2])["Severity"] = "low"
				obj(v[3])["Severity"] = "UNKNOWN"
			}),
			want: gatekeeper.VulnCounts{Critical: 1, High: 1, Low: 1, Unknown: 1},
		},
		{
			name: "a severity trivy does not name is unknown",
			body: trivyVariant(t, func(_ map[string]any, v []any) { delete(obj(v[0]), "Severity") }),
			want: gatekeeper.VulnCounts{Medium: 3, Unknown: 1},
		},
		{
			name: "the same finding in a second target counts once",
			body: trivyVariant(t, func(m map[string]any, v []any) {
				dup := map[string]any{"Target": "usr/lib/libssl (layer 2)", "Vulnerabilities": []any{v[0], v[3]}}
				m["Results"] = append(m["Results"].([]any), dup)
			}),
			want: gatekeeper.VulnCounts{Medium: 4},
		},
		{
			name: "a duplicate with a worse severity counts as the worse",
			body: trivyVariant(t, func(m map[string]any, v []any) {
				worse := map[string]any{}
				for k, x := range obj(v[0]) {
					worse[k] = x
				}
				worse["Severity"] = "HIGH"
				m["Results"] = append(m["Results"].([]any), map[string]any{"Target": "again", "Vulnerabilities": []any{worse}})
			}),
			want: gatekeeper.VulnCounts{High: 1, Medium: 3},
		},
		{
			name: "no findings",
			body: trivyVariant(t, func(m map[string]any, _ []any) {
				delete(obj(m["Results"].([]any)[0]), "Vulnerabilities")
			}),
			want: gatekeeper.VulnCounts{},
		},
		{name: "schema 1", body: trivyVariant(t, func(m map[string]any, _ []any) { m["SchemaVersion"] = 1 }), wantErr: true},
		{name: "no schema version", body: trivyVariant(t, func(m map[string]any, _ []any) { delete(m, "SchemaVersion") }), wantErr: true},
		{name: "vulnerability without id", body: trivyVariant(t, func(_ map[string]any, v []any) { delete(obj(v[1]), "VulnerabilityID") }), wantErr: true},
		{name: "a sarif log", body: readTrivy(t, "alpine-310.sarif.golden"), wantErr: true},
		{name: "two documents", body: append(readTrivy(t, "alpine-310.json.golden"), readTrivy(t, "alpine-310.json.golden")...), wantErr: true},
		{name: "truncated", body: readTrivy(t, "alpine-310.json.golden")[:5000], wantErr: true},
		{name: "empty", body: nil, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseTrivy(bytes.NewReader(tt.body))
			if tt.wantErr {
				if !errors.Is(err, gatekeeper.ErrInvalid) {
					t.Fatalf("ParseTrivy error = %v, want ErrInvalid", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseTrivy (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseSARIF(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		body    []byte
		want    gatekeeper.VulnCounts
		wantErr bool
	}{
		{
			name: "recorded log: security-severity 5.3",
			body: readTrivy(t, "alpine-310.sarif.golden"),
			want: gatekeeper.VulnCounts{Medium: 4},
		},
		{
			name: "cvss bands from the rule",
			body: sarifVariant(t, func(_ map[string]any, rules, _ []any) {
				obj(obj(rules[0])["properties"])["security-severity"] = "9.8"
				obj(obj(rules[1])["properties"])["security-severity"] = 7.0 // a number, as some tools write it
			}),
			want: gatekeeper.VulnCounts{Critical: 2, High: 2},
		},
		{
			name: "result's own security-severity wins",
			body: sarifVariant(t, func(_ map[string]any, _, results []any) {
				obj(results[0])["properties"] = map[string]any{"security-severity": "0.1"}
			}),
			want: gatekeeper.VulnCounts{Medium: 3, Low: 1},
		},
		{
			name: "severity tag without a score",
			body: sarifVariant(t, func(_ map[string]any, rules, _ []any) {
				p := obj(obj(rules[0])["properties"])
				delete(p, "security-severity")
				p["tags"] = []any{"vulnerability", "security", "CRITICAL"}
			}),
			want: gatekeeper.VulnCounts{Critical: 2, Medium: 2},
		},
		{
			name: "level without score or tag",
			body: sarifVariant(t, func(_ map[string]any, rules, results []any) {
				for _, r := range rules {
					delete(obj(r), "properties")
				}
				obj(results[0])["level"] = "error"
				obj(results[1])["level"] = "note"
				obj(results[2])["level"] = "none"
				delete(obj(results[3]), "level") // the rule's default: warning
			}),
			want: gatekeeper.VulnCounts{High: 1, Medium: 1, Low: 1, Unknown: 1},
		},
		{
			name: "rule found by id when the index is absent",
			body: sarifVariant(t, func(_ map[string]any, rules, results []any) {
				obj(obj(rules[1])["properties"])["security-severity"] = "9.1"
				for _, r := range results {
					delete(obj(r), "ruleIndex")
				}
			}),
			want: gatekeeper.VulnCounts{Critical: 2, Medium: 2},
		},
		{
			name: "identical results count once",
			body: sarifVariant(t, func(m map[string]any, _, results []any) {
				run := obj(m["runs"].([]any)[0])
				run["results"] = append(results, results[0], results[1])
			}),
			want: gatekeeper.VulnCounts{Medium: 4},
		},
		{
			name: "suppressions: accepted apart, under review or rejected open",
			body: sarifVariant(t, func(_ map[string]any, _, results []any) {
				obj(results[0])["suppressions"] = []any{map[string]any{"kind": "inSource"}}
				obj(results[1])["suppressions"] = []any{map[string]any{"kind": "external", "status": "accepted"}}
				obj(results[2])["suppressions"] = []any{map[string]any{"kind": "external", "status": "underReview"}}
				obj(results[3])["suppressions"] = []any{map[string]any{"kind": "inSource"}, map[string]any{"kind": "external", "status": "rejected"}}
			}),
			want: gatekeeper.VulnCounts{Medium: 2, Suppressed: gatekeeper.Severities{Medium: 2}},
		},
		{
			name: "same rule at another line of the same file is another finding",
			body: sarifVariant(t, func(m map[string]any, _, results []any) {
				var moved map[string]any
				if err := json.Unmarshal(mustJSON(t, results[0]), &moved); err != nil {
					t.Fatal(err)
				}
				loc := obj(obj(moved["locations"].([]any)[0])["physicalLocation"])
				loc["region"] = map[string]any{"startLine": 99}
				obj(m["runs"].([]any)[0])["results"] = append(results, moved)
			}),
			want: gatekeeper.VulnCounts{Medium: 5},
		},
		{
			name: "kind other than fail and baselineState absent are not findings",
			body: sarifVariant(t, func(_ map[string]any, _, results []any) {
				obj(results[0])["kind"] = "pass"
				obj(results[1])["kind"] = "informational"
				obj(results[2])["baselineState"] = "absent"
				obj(results[3])["baselineState"] = "unchanged"
			}),
			want: gatekeeper.VulnCounts{Medium: 1},
		},
		{
			name: "no results",
			body: sarifVariant(t, func(m map[string]any, _, _ []any) { obj(m["runs"].([]any)[0])["results"] = []any{} }),
			want: gatekeeper.VulnCounts{},
		},
		{name: "version 2.0.0", body: sarifVariant(t, func(m map[string]any, _, _ []any) { m["version"] = "2.0.0" }), wantErr: true},
		{name: "score out of range", body: sarifVariant(t, func(_ map[string]any, rules, _ []any) {
			obj(obj(rules[0])["properties"])["security-severity"] = "11"
		}), wantErr: true},
		{name: "score not a number", body: sarifVariant(t, func(_ map[string]any, rules, _ []any) {
			obj(obj(rules[0])["properties"])["security-severity"] = "high"
		}), wantErr: true},
		{name: "unknown level", body: sarifVariant(t, func(_ map[string]any, rules, results []any) {
			for _, r := range rules {
				delete(obj(r), "properties")
			}
			obj(results[0])["level"] = "fatal"
		}), wantErr: true},
		{name: "a trivy json report", body: readTrivy(t, "alpine-310.json.golden"), wantErr: true},
		{name: "truncated", body: readTrivy(t, "alpine-310.sarif.golden")[:3000], wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseSARIF(bytes.NewReader(tt.body))
			if tt.wantErr {
				if !errors.Is(err, gatekeeper.ErrInvalid) {
					t.Fatalf("ParseSARIF error = %v, want ErrInvalid", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseSARIF (-want +got):\n%s", diff)
			}
		})
	}
}

// checkCounts is the fuzz invariant of both parsers: an error gives zero
// counts and wraps ErrInvalid; counts are never negative.
func checkCounts(t *testing.T, c gatekeeper.VulnCounts, err error) {
	t.Helper()
	if err != nil {
		if c != (gatekeeper.VulnCounts{}) || !errors.Is(err, gatekeeper.ErrInvalid) {
			t.Fatalf("counts %+v with error %v", c, err)
		}
		return
	}
	if c.Critical < 0 || c.High < 0 || c.Medium < 0 || c.Low < 0 || c.Unknown < 0 {
		t.Fatalf("negative counts %+v", c)
	}
}

func FuzzParseTrivy(f *testing.F) {
	f.Add(readTrivy(f, "alpine-310.json.golden"))
	f.Add([]byte(`{"SchemaVersion":2,"Results":[{"Target":"x","Vulnerabilities":[{"VulnerabilityID":"CVE-1","Severity":"CRITICAL"}]}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		c, err := ParseTrivy(bytes.NewReader(body))
		checkCounts(t, c, err)
	})
}

func FuzzParseSARIF(f *testing.F) {
	f.Add(readTrivy(f, "alpine-310.sarif.golden"))
	f.Add([]byte(`{"version":"2.1.0","runs":[{"tool":{"driver":{"rules":[{"id":"r","properties":{"security-severity":"9.8"}}]}},"results":[{"ruleId":"r","ruleIndex":0}]}]}`))
	f.Add([]byte(`{"version":"2.1.0","runs":[{"results":[{"ruleId":"r","kind":"pass"},{"ruleId":"r","baselineState":"absent"},{"ruleId":"r","suppressions":[{"status":"accepted"}]},{"ruleId":"r","message":{"id":"m","arguments":["a"]},"locations":[{"physicalLocation":{"artifactLocation":{"uri":"a"},"region":{"startLine":2}}}]}]}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		c, err := ParseSARIF(bytes.NewReader(body))
		checkCounts(t, c, err)
	})
}

// TestParseSARIFPublicLogs counts SARIF logs written by real tools (copies
// under test/testdata/fixtures/sarif, see its README.md). The expected
// numbers are not the parser's: testdata/sarif_counts.py reads each file
// with Python's json module and applies SARIF 2.1.0 as ParseSARIF documents
// it (kind "fail" only, baselineState "absent" left out, accepted
// suppressions apart, identical rule+level+message+locations once). Run
//
//	python3 testdata/sarif_counts.py ../../test/testdata/fixtures/sarif
//
// to see them; for each file it prints the raw result count, how many it
// left out and why, and the counts below. The files were chosen for what
// they exercise:
//   - Pylint-01: 72 results, several per file at different lines (the
//     defect counted 58, comparing only the file name);
//   - NoRuleDefaultConfiguration: one result of kind "pass" (4 of 5 count);
//   - StaticDriverVerifier: its only result is kind "pass";
//   - NewAndOldResults: one result with baselineState "absent" (4 of 5);
//   - WithSuppressions: three results suppressed without a status (accepted);
//   - elfie-arriba: one suppression with status "accepted", four open;
//   - codeql-action valid-sarif*: a result listed twice, counted once.
func TestParseSARIFPublicLogs(t *testing.T) {
	t.Parallel()
	const dir = "../../test/testdata/fixtures/sarif"
	tests := []struct {
		file string
		want gatekeeper.VulnCounts
	}{
		{"sarif-sdk/Pylint-01.sarif", gatekeeper.VulnCounts{Medium: 72}},
		{"sarif-sdk/NoRuleDefaultConfiguration.sarif", gatekeeper.VulnCounts{High: 1, Medium: 1, Low: 1, Unknown: 1}},
		{"sarif-sdk/StaticDriverVerifier.iocompletion_bug1.sarif", gatekeeper.VulnCounts{}},
		{"sarif-sdk/NewAndOldResults.sarif", gatekeeper.VulnCounts{High: 4}},
		{"sarif-sdk/WithSuppressions.sarif", gatekeeper.VulnCounts{Suppressed: gatekeeper.Severities{High: 3}}},
		{"sarif-sdk/elfie-arriba.sarif", gatekeeper.VulnCounts{High: 3, Medium: 1, Suppressed: gatekeeper.Severities{High: 1}}},
		{"sarif-sdk/HdfConverter.ValidResults.sarif", gatekeeper.VulnCounts{High: 43, Medium: 32, Low: 91}},
		{"sarif-sdk/SemmleQL.results.sarif", gatekeeper.VulnCounts{High: 2, Medium: 27, Low: 51}},
		{"sarif-sdk/CweGhasSample.sarif", gatekeeper.VulnCounts{Critical: 1, High: 4, Medium: 2}},
		{"sarif-sdk/GroupingSample.sarif", gatekeeper.VulnCounts{Critical: 3}},
		{"sarif-sdk/ClangAnalyzer.RealLog.sarif", gatekeeper.VulnCounts{Medium: 4}},
		{"sarif-sdk/FlawFinderConverter.ValidResults.sarif", gatekeeper.VulnCounts{High: 2, Low: 1}},
		{"sarif-sdk/NessusConverter.ValidResults.sarif", gatekeeper.VulnCounts{Critical: 1, Low: 1}},
		{"sarif-sdk/CisCatConverter.ValidResults.sarif", gatekeeper.VulnCounts{High: 1}},
		{"sarif-sdk/FortifyFpr.OneResultBasic.sarif", gatekeeper.VulnCounts{Medium: 1}},
		{"codeql-action/valid-sarif.sarif", gatekeeper.VulnCounts{Low: 2}},
		{"codeql-action/valid-sarif-diff-filtered.sarif", gatekeeper.VulnCounts{Low: 1}},
		{"codeql-action/fingerprinting.input.sarif", gatekeeper.VulnCounts{Medium: 2}},
		{"grype/TestSarifPresenter_image.sarif", gatekeeper.VulnCounts{High: 2}},
		{"grype/TestSarifPresenter_directory.sarif", gatekeeper.VulnCounts{High: 2}},
		{"trivy/alpine-310.sarif", gatekeeper.VulnCounts{Medium: 4}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			body, err := os.ReadFile(filepath.Join(dir, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseSARIF(bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseSARIF (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("codeql-action/invalid-sarif.sarif", func(t *testing.T) {
		t.Parallel()
		body, err := os.ReadFile(filepath.Join(dir, "codeql-action/invalid-sarif.sarif"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParseSARIF(bytes.NewReader(body)); !errors.Is(err, gatekeeper.ErrInvalid) {
			t.Errorf("ParseSARIF error = %v, want ErrInvalid", err)
		}
	})
}
