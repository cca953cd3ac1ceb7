package jenkinsapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// maxFindings bounds the findings one report may list, so that a hostile
// or broken report cannot make the gatekeeper hold millions of keys.
const maxFindings = 1 << 20

// trivyReport is the part of Trivy's JSON report (SchemaVersion 2) the
// gatekeeper reads.
type trivyReport struct {
	SchemaVersion *int `json:"SchemaVersion"`
	Results       []struct {
		Target          string `json:"Target"`
		Vulnerabilities []struct {
			VulnerabilityID  string `json:"VulnerabilityID"`
			PkgName          string `json:"PkgName"`
			InstalledVersion string `json:"InstalledVersion"`
			Severity         string `json:"Severity"`
		} `json:"Vulnerabilities"`
	} `json:"Results"`
}

// trivyKey identifies one finding: Trivy lists a vulnerability once per
// target that contains the package, and the same package can sit in
// several targets (layers, lock files) of one image.
type trivyKey struct{ id, pkg, version string }

// ParseTrivy counts the vulnerabilities of a Trivy JSON report (trivy
// image --format json, SchemaVersion 2) by severity, each distinct
// (VulnerabilityID, PkgName, InstalledVersion) once. A severity Trivy does
// not name (or UNKNOWN) counts as Unknown, never as nothing. Anything that
// is not a schema 2 report is an error wrapping gatekeeper.ErrInvalid: a
// report that cannot be read is never an empty pass.
func ParseTrivy(r io.Reader) (gatekeeper.VulnCounts, error) {
	found, err := trivyFindings(r)
	if err != nil {
		return gatekeeper.VulnCounts{}, err
	}
	return countTrivy(found), nil
}

// trivyFindings returns the distinct findings of one report with their
// severities, so that several reports of one build can be merged without
// counting a finding twice.
func trivyFindings(r io.Reader) (map[trivyKey]string, error) {
	var rep trivyReport
	if err := decodeStrict(r, &rep); err != nil {
		return nil, fmt.Errorf("decoding trivy report: %w", err)
	}
	if rep.SchemaVersion == nil {
		return nil, fmt.Errorf("decoding trivy report: no SchemaVersion, not a trivy report: %w", gatekeeper.ErrInvalid)
	}
	if *rep.SchemaVersion != 2 {
		return nil, fmt.Errorf("decoding trivy report: SchemaVersion %d, want 2: %w", *rep.SchemaVersion, gatekeeper.ErrInvalid)
	}
	found := map[trivyKey]string{}
	for _, res := range rep.Results {
		for _, v := range res.Vulnerabilities {
			k := trivyKey{v.VulnerabilityID, v.PkgName, v.InstalledVersion}
			if k.id == "" {
				return nil, fmt.Errorf("decoding trivy report: a vulnerability of %q has no VulnerabilityID: %w", res.Target, gatekeeper.ErrInvalid)
			}
			sev := normSeverity(v.Severity)
			// Should one finding be listed twice with different
			// severities, the worse one counts.
			if old, ok := found[k]; !ok || severityRank[sev] > severityRank[old] {
				found[k] = sev
			}
			if len(found) > maxFindings {
				return nil, fmt.Errorf("decoding trivy report: more than %d findings: %w", maxFindings, gatekeeper.ErrInvalid)
			}
		}
	}
	return found, nil
}

func countTrivy(found map[trivyKey]string) gatekeeper.VulnCounts {
	var c gatekeeper.VulnCounts
	for _, sev := range found {
		addSeverity(&c, sev)
	}
	return c
}

// Severities as the gatekeeper counts them.
const (
	sevCritical = "CRITICAL"
	sevHigh     = "HIGH"
	sevMedium   = "MEDIUM"
	sevLow      = "LOW"
	sevUnknown  = "UNKNOWN"
)

// severityRank orders severities; UNKNOWN ranks between LOW and MEDIUM only
// for choosing between duplicates, it is always counted as Unknown.
var severityRank = map[string]int{sevLow: 1, sevUnknown: 2, sevMedium: 3, sevHigh: 4, sevCritical: 5}

// normSeverity maps a severity name onto one of the five; anything else is
// UNKNOWN.
func normSeverity(s string) string {
	s = strings.ToUpper(strings.TrimSpace(s))
	if _, ok := severityRank[s]; ok {
		return s
	}
	return sevUnknown
}

func addSeverity(c *gatekeeper.VulnCounts, sev string) {
	switch sev {
	case sevCritical:
		c.Critical++
	case sevHigh:
		c.High++
	case sevMedium:
		c.Medium++
	case sevLow:
		c.Low++
	default:
		c.Unknown++
	}
}

// sarifLog is the part of a SARIF 2.1.0 log the gatekeeper reads.
type sarifLog struct {
	Version *string `json:"version"`
	Runs    []struct {
		Tool struct {
			Driver struct {
				Rules []sarifRule `json:"rules"`
			} `json:"driver"`
		} `json:"tool"`
		Results []sarifResult `json:"results"`
	} `json:"runs"`
}

// sarifResult is one result (§3.27): what it found, where, and whether it
// is a finding at all (kind, baselineState, suppressions).
type sarifResult struct {
	RuleID    string `json:"ruleId"`
	RuleIndex *int   `json:"ruleIndex"`
	Rule      *struct {
		ID    string `json:"id"`
		Index *int   `json:"index"`
	} `json:"rule"`
	Kind          string          `json:"kind"`
	BaselineState string          `json:"baselineState"`
	Level         string          `json:"level"`
	Properties    sarifProperties `json:"properties"`
	Message       struct {
		Text      string   `json:"text"`
		ID        string   `json:"id"`
		Arguments []string `json:"arguments"`
	} `json:"message"`
	Locations []struct {
		PhysicalLocation struct {
			ArtifactLocation struct {
				URI       string `json:"uri"`
				URIBaseID string `json:"uriBaseId"`
				Index     *int   `json:"index"`
			} `json:"artifactLocation"`
			Region *sarifRegion `json:"region"`
		} `json:"physicalLocation"`
		LogicalLocations []struct {
			FullyQualifiedName string `json:"fullyQualifiedName"`
			Name               string `json:"name"`
		} `json:"logicalLocations"`
	} `json:"locations"`
	Suppressions []struct {
		Status string `json:"status"`
	} `json:"suppressions"`
}

// sarifRegion is the part of a file a result points at (§3.30); results at
// different regions of one file are different findings.
type sarifRegion struct {
	StartLine   *int `json:"startLine"`
	StartColumn *int `json:"startColumn"`
	EndLine     *int `json:"endLine"`
	EndColumn   *int `json:"endColumn"`
	CharOffset  *int `json:"charOffset"`
	CharLength  *int `json:"charLength"`
	ByteOffset  *int `json:"byteOffset"`
	ByteLength  *int `json:"byteLength"`
}

type sarifRule struct {
	ID                   string `json:"id"`
	DefaultConfiguration struct {
		Level string `json:"level"`
	} `json:"defaultConfiguration"`
	Properties sarifProperties `json:"properties"`
}

// sarifProperties is a property bag: GitHub code scanning's
// security-severity (a CVSS score, written as a string, by some tools as
// a number) and tags, where Trivy puts the severity name.
type sarifProperties struct {
	SecuritySeverity json.RawMessage `json:"security-severity"`
	Tags             []string        `json:"tags"`
}

// ParseSARIF counts the findings of a SARIF 2.1.0 log (as Trivy and other
// scanners write it) by severity.
//
// A result is a finding when its kind is "fail" (the default; "pass",
// "open", "review", "notApplicable" and "informational" are not) and its
// baselineState is not "absent" (a result of the baseline that this run no
// longer finds). A finding whose suppressions are all accepted (status
// absent or "accepted"; one "underReview" or "rejected" leaves it open) is
// counted in Suppressed instead.
//
// A finding's severity is, in order: the CVSS score in security-severity
// (the result's property, else its rule's: ≥ 9 critical, ≥ 7 high, ≥ 4
// medium, > 0 low), a severity name among the tags (result's, else rule's),
// else its level (the result's, else the rule's default, else SARIF's
// default "warning"): error → high, warning → medium, note → low, none →
// unknown.
//
// Results that are identical in rule, level, message and every location
// (artifact, region, logical location) count once: the same rule at two
// lines of one file is two findings. Anything that is not a 2.1.0 log is
// an error wrapping gatekeeper.ErrInvalid.
func ParseSARIF(r io.Reader) (gatekeeper.VulnCounts, error) {
	var log sarifLog
	if err := decodeStrict(r, &log); err != nil {
		return gatekeeper.VulnCounts{}, fmt.Errorf("decoding sarif log: %w", err)
	}
	if log.Version == nil || *log.Version != "2.1.0" {
		return gatekeeper.VulnCounts{}, fmt.Errorf("decoding sarif log: version is not 2.1.0: %w", gatekeeper.ErrInvalid)
	}
	var c gatekeeper.VulnCounts
	seen := map[string]bool{}
	for _, run := range log.Runs {
		rules := run.Tool.Driver.Rules
		byID := make(map[string]int, len(rules))
		for i, rl := range rules {
			if _, dup := byID[rl.ID]; !dup {
				byID[rl.ID] = i
			}
		}
		for i := range run.Results {
			res := &run.Results[i]
			if !sarifFinding(res) {
				continue
			}
			id, idx := res.RuleID, res.RuleIndex
			if res.Rule != nil {
				if id == "" {
					id = res.Rule.ID
				}
				if idx == nil {
					idx = res.Rule.Index
				}
			}
			var rule *sarifRule
			if idx != nil && *idx >= 0 && *idx < len(rules) && (id == "" || rules[*idx].ID == id) {
				rule = &rules[*idx]
			} else if i, ok := byID[id]; ok && id != "" {
				rule = &rules[i]
			}
			level := res.Level
			if level == "" && rule != nil {
				level = rule.DefaultConfiguration.Level
			}
			k := sarifKey(id, level, res)
			if seen[k] {
				continue
			}
			seen[k] = true
			if len(seen) > maxFindings {
				return gatekeeper.VulnCounts{}, fmt.Errorf("decoding sarif log: more than %d results: %w", maxFindings, gatekeeper.ErrInvalid)
			}
			sev, err := sarifSeverity(res.Properties, level, rule)
			if err != nil {
				return gatekeeper.VulnCounts{}, fmt.Errorf("decoding sarif log: result for rule %q: %w", id, err)
			}
			if sarifSuppressed(res) {
				var s gatekeeper.VulnCounts
				addSeverity(&s, sev)
				c.Suppressed.Add(gatekeeper.Severities{Critical: s.Critical, High: s.High, Medium: s.Medium, Low: s.Low, Unknown: s.Unknown})
				continue
			}
			addSeverity(&c, sev)
		}
	}
	return c, nil
}

// sarifFinding reports whether a result is a finding at all: kind "fail"
// (SARIF's default) and not a baseline result this run no longer has.
func sarifFinding(res *sarifResult) bool {
	if res.Kind != "" && res.Kind != "fail" {
		return false
	}
	return res.BaselineState != "absent"
}

// sarifSuppressed reports whether a result is suppressed (§3.27.23): it has
// suppressions, and each of them is accepted (a status absent means
// accepted). A suppression under review or rejected leaves the result open.
func sarifSuppressed(res *sarifResult) bool {
	if len(res.Suppressions) == 0 {
		return false
	}
	for _, s := range res.Suppressions {
		if s.Status != "" && s.Status != "accepted" {
			return false
		}
	}
	return true
}

// sarifKey identifies a finding: rule, level, message and every location
// with its region. Each part is quoted, so that no two different results
// give the same key.
func sarifKey(rule, level string, res *sarifResult) string {
	var b strings.Builder
	q := func(s string) { b.WriteString(strconv.Quote(s)) }
	n := func(p *int) {
		if p == nil {
			b.WriteString("-,")
			return
		}
		b.WriteString(strconv.Itoa(*p))
		b.WriteByte(',')
	}
	q(rule)
	q(level)
	q(res.Message.Text)
	q(res.Message.ID)
	b.WriteString(strconv.Itoa(len(res.Message.Arguments)))
	for _, a := range res.Message.Arguments {
		q(a)
	}
	for _, l := range res.Locations {
		al := l.PhysicalLocation.ArtifactLocation
		b.WriteString("|")
		q(al.URI)
		q(al.URIBaseID)
		n(al.Index)
		if rg := l.PhysicalLocation.Region; rg != nil {
			for _, p := range []*int{rg.StartLine, rg.StartColumn, rg.EndLine, rg.EndColumn, rg.CharOffset, rg.CharLength, rg.ByteOffset, rg.ByteLength} {
				n(p)
			}
		}
		b.WriteString(strconv.Itoa(len(l.LogicalLocations)))
		for _, ll := range l.LogicalLocations {
			q(ll.FullyQualifiedName)
			q(ll.Name)
		}
	}
	return b.String()
}

// sarifSeverity decides one result's severity (see ParseSARIF).
func sarifSeverity(props sarifProperties, level string, rule *sarifRule) (string, error) {
	bags := []sarifProperties{props}
	if rule != nil {
		bags = append(bags, rule.Properties)
	}
	for _, p := range bags {
		score, ok, err := cvssScore(p.SecuritySeverity)
		if err != nil {
			return "", err
		}
		if ok {
			switch {
			case score >= 9:
				return sevCritical, nil
			case score >= 7:
				return sevHigh, nil
			case score >= 4:
				return sevMedium, nil
			case score > 0:
				return sevLow, nil
			}
		}
	}
	for _, p := range bags {
		for _, t := range p.Tags {
			switch s := strings.ToUpper(strings.TrimSpace(t)); s {
			case sevCritical, sevHigh, sevMedium, sevLow:
				return s, nil
			}
		}
	}
	switch level {
	case "error":
		return sevHigh, nil
	case "warning", "":
		return sevMedium, nil
	case "note":
		return sevLow, nil
	case "none":
		return sevUnknown, nil
	}
	return "", fmt.Errorf("level %q is not a SARIF level: %w", level, gatekeeper.ErrInvalid)
}

// cvssScore reads security-severity, a string such as "9.8" (GitHub's
// spelling) or a bare number. Absent or 0 gives ok false; a value that is
// not a score in 0–10 is an error, never a low severity.
func cvssScore(raw json.RawMessage) (float64, bool, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, false, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		s = string(raw)
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(v) || v < 0 || v > 10 {
		return 0, false, fmt.Errorf("security-severity %s is not a CVSS score: %w", raw, gatekeeper.ErrInvalid)
	}
	return v, v > 0, nil
}

// decodeStrict decodes exactly one JSON value from r into v: trailing data
// (a second document, a truncated concatenation) is an error.
func decodeStrict(r io.Reader, v any) error {
	return decodeOne(json.NewDecoder(r), v)
}

// decodeOne decodes one value with dec and checks that nothing follows.
// Errors wrap gatekeeper.ErrInvalid.
func decodeOne(dec *json.Decoder, v any) error {
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %w", gatekeeper.ErrInvalid, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: data after the JSON document", gatekeeper.ErrInvalid)
	}
	return nil
}
