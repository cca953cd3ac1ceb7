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
		Results []struct {
			RuleID    string `json:"ruleId"`
			RuleIndex *int   `json:"ruleIndex"`
			Rule      *struct {
				ID    string `json:"id"`
				Index *int   `json:"index"`
			} `json:"rule"`
			Level      string          `json:"level"`
			Properties sarifProperties `json:"properties"`
			Message    struct {
				Text string `json:"text"`
			} `json:"message"`
			Locations []struct {
				PhysicalLocation struct {
					ArtifactLocation struct {
						URI string `json:"uri"`
					} `json:"artifactLocation"`
				} `json:"physicalLocation"`
			} `json:"locations"`
		} `json:"results"`
	} `json:"runs"`
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

// ParseSARIF counts the results of a SARIF 2.1.0 log (as Trivy and other
// scanners write it) by severity. A result's severity is, in order: the
// CVSS score in security-severity (the result's property, else its rule's:
// ≥ 9 critical, ≥ 7 high, ≥ 4 medium, > 0 low), a severity name among the
// tags (result's, else rule's), else its level (the result's, else the
// rule's default, else SARIF's default "warning"): error → high, warning →
// medium, note → low, none → unknown. Identical results (same rule,
// message and location) count once. Anything that is not a 2.1.0 log is an
// error wrapping gatekeeper.ErrInvalid.
func ParseSARIF(r io.Reader) (gatekeeper.VulnCounts, error) {
	var log sarifLog
	if err := decodeStrict(r, &log); err != nil {
		return gatekeeper.VulnCounts{}, fmt.Errorf("decoding sarif log: %w", err)
	}
	if log.Version == nil || *log.Version != "2.1.0" {
		return gatekeeper.VulnCounts{}, fmt.Errorf("decoding sarif log: version is not 2.1.0: %w", gatekeeper.ErrInvalid)
	}
	var c gatekeeper.VulnCounts
	seen := map[[3]string]bool{}
	for _, run := range log.Runs {
		rules := run.Tool.Driver.Rules
		byID := make(map[string]int, len(rules))
		for i, rl := range rules {
			if _, dup := byID[rl.ID]; !dup {
				byID[rl.ID] = i
			}
		}
		for _, res := range run.Results {
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
			loc := ""
			if len(res.Locations) > 0 {
				loc = res.Locations[0].PhysicalLocation.ArtifactLocation.URI
			}
			k := [3]string{id, res.Message.Text, loc}
			if seen[k] {
				continue
			}
			seen[k] = true
			if len(seen) > maxFindings {
				return gatekeeper.VulnCounts{}, fmt.Errorf("decoding sarif log: more than %d results: %w", maxFindings, gatekeeper.ErrInvalid)
			}
			sev, err := sarifSeverity(res.Properties, res.Level, rule)
			if err != nil {
				return gatekeeper.VulnCounts{}, fmt.Errorf("decoding sarif log: result for rule %q: %w", id, err)
			}
			addSeverity(&c, sev)
		}
	}
	return c, nil
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
	if level == "" && rule != nil {
		level = rule.DefaultConfiguration.Level
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
