package jenkinsapi

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/bndr/gojenkins"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// Tests fetches a build's JUnit report (<build>/testReport, through
// gojenkins' Build.GetResultSet) and counts its cases. A build without a
// test report is ErrMissing; a report with no tests is a zero summary,
// which the policy judges.
func (c *Client) Tests(ctx context.Context, jobURL string, number int64) (*gatekeeper.TestSummary, error) {
	r, err := newRef(jobURL, number)
	if err != nil {
		return nil, fmt.Errorf("fetching test report: %w", err)
	}
	return c.testsOf(ctx, r)
}

func (c *Client) testsOf(ctx context.Context, r ref) (*gatekeeper.TestSummary, error) {
	b := &gojenkins.Build{Jenkins: c.withContext(ctx), Raw: new(gojenkins.BuildResponse), Base: r.endpoint(), Depth: 1}
	rs, err := b.GetResultSet(ctx)
	if err != nil {
		return nil, fmt.Errorf("fetching test report of %s: %w", r, err)
	}
	if rs.PassCount < 0 || rs.FailCount < 0 || rs.SkipCount < 0 {
		return nil, fmt.Errorf("decoding test report of %s: negative counts", r)
	}
	if rs.PassCount+rs.FailCount+rs.SkipCount > math.MaxInt32 {
		return nil, fmt.Errorf("decoding test report of %s: counts out of range", r)
	}
	return &gatekeeper.TestSummary{
		Total:   int(rs.PassCount + rs.FailCount + rs.SkipCount),
		Passed:  int(rs.PassCount),
		Failed:  int(rs.FailCount),
		Skipped: int(rs.SkipCount),
	}, nil
}

// Coverage fetches a build's project coverage: from the Coverage plugin
// (<build>/<CoverageID>/api/json), else the Cobertura plugin
// (<build>/cobertura/api/json?depth=2), else the JaCoCo plugin
// (<build>/jacoco/api/json). Only a 404 moves on to the next plugin; any
// other failure is returned. No report, or one that measured no lines, is
// ErrMissing.
func (c *Client) Coverage(ctx context.Context, jobURL string, number int64) (*gatekeeper.Coverage, error) {
	r, err := newRef(jobURL, number)
	if err != nil {
		return nil, fmt.Errorf("fetching coverage: %w", err)
	}
	return c.coverageOf(ctx, r)
}

func (c *Client) coverageOf(ctx context.Context, r ref) (*gatekeeper.Coverage, error) {
	sources := []struct {
		name, segment string
		query         map[string]string
		parse         func([]byte) (*gatekeeper.Coverage, error)
	}{
		{"coverage", c.coverageID, nil, parseCoverageAPI},
		// A plain Cobertura request answers with empty results.
		{"cobertura", "cobertura", map[string]string{"depth": "2"}, parseCobertura},
		{"jacoco", "jacoco", nil, parseJacoco},
	}
	j := c.withContext(ctx)
	for _, s := range sources {
		var raw rawJSON
		_, err := j.Requester.GetJSON(ctx, r.endpoint()+"/"+s.segment, &raw, s.query)
		if isMissing(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("fetching %s coverage of %s: %w", s.name, r, err)
		}
		cov, err := s.parse(raw)
		if err != nil {
			return nil, fmt.Errorf("decoding %s coverage of %s: %w", s.name, r, err)
		}
		return cov, nil
	}
	return nil, fmt.Errorf("fetching coverage of %s: no coverage, cobertura or jacoco report: %w", r, ErrMissing)
}

// parseCoverageAPI reads the Coverage plugin's CoverageApi, whose values
// are strings such as "88.44%".
func parseCoverageAPI(raw []byte) (*gatekeeper.Coverage, error) {
	var api struct {
		ProjectStatistics map[string]string `json:"projectStatistics"`
	}
	if err := json.Unmarshal(raw, &api); err != nil {
		return nil, err
	}
	line, ok := api.ProjectStatistics["line"]
	if !ok {
		return nil, fmt.Errorf("no line metric in projectStatistics: %w", ErrMissing)
	}
	cov := &gatekeeper.Coverage{Source: "coverage"}
	var err error
	if cov.Line, err = parsePercent(line); err != nil {
		return nil, fmt.Errorf("line coverage: %w", err)
	}
	if s, ok := api.ProjectStatistics["branch"]; ok {
		b, err := parsePercent(s)
		if err != nil {
			return nil, fmt.Errorf("branch coverage: %w", err)
		}
		cov.Branch = &b
	}
	if err := checkRange(cov); err != nil {
		return nil, err
	}
	return cov, nil
}

// parsePercent parses the Coverage plugin's percentages: an optional sign,
// digits with an optional fraction, and a "%": "88.44%", "+3.37%",
// "-0.48%". Anything else (counts such as "-482", "NaN%", "") is an error,
// never zero.
func parsePercent(s string) (float64, error) {
	num, ok := strings.CutSuffix(strings.TrimSpace(s), "%")
	if !ok {
		return 0, fmt.Errorf("percentage %q has no %%", s)
	}
	digits := strings.TrimLeft(num, "+-")
	if len(num)-len(digits) > 1 || digits == "" {
		return 0, fmt.Errorf("percentage %q is malformed", s)
	}
	seenDot, seenDigit := false, false
	for _, c := range digits {
		switch {
		case c >= '0' && c <= '9':
			seenDigit = true
		case c == '.' && !seenDot:
			seenDot = true
		default:
			return 0, fmt.Errorf("percentage %q is malformed", s)
		}
	}
	if !seenDigit {
		return 0, fmt.Errorf("percentage %q is malformed", s)
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || math.IsInf(v, 0) {
		return 0, fmt.Errorf("percentage %q is malformed", s)
	}
	return v, nil
}

// parseCobertura reads the Cobertura plugin's CoverageResult: ratios in
// percent per metric, Lines and Conditionals among them.
func parseCobertura(raw []byte) (*gatekeeper.Coverage, error) {
	var api struct {
		Results struct {
			Elements []struct {
				Name        string  `json:"name"`
				Ratio       float64 `json:"ratio"`
				Denominator float64 `json:"denominator"`
			} `json:"elements"`
		} `json:"results"`
	}
	if err := json.Unmarshal(raw, &api); err != nil {
		return nil, err
	}
	cov := &gatekeeper.Coverage{Source: "cobertura"}
	lines := false
	for _, e := range api.Results.Elements {
		if e.Denominator <= 0 {
			continue // nothing measured: not 0%, not 100%
		}
		switch e.Name {
		case "Lines":
			cov.Line, lines = e.Ratio, true
		case "Conditionals":
			b := e.Ratio
			cov.Branch = &b
		}
	}
	if !lines {
		return nil, fmt.Errorf("no measured Lines element: %w", ErrMissing)
	}
	if err := checkRange(cov); err != nil {
		return nil, err
	}
	return cov, nil
}

// parseJacoco reads the JaCoCo plugin's build action. percentageFloat is
// 100 when nothing was recorded (JENKINS-56123), so the percentage is
// computed from covered/total and a total of 0 counts as not measured.
func parseJacoco(raw []byte) (*gatekeeper.Coverage, error) {
	type counter struct {
		Covered int64 `json:"covered"`
		Total   int64 `json:"total"`
	}
	var api struct {
		Line   *counter `json:"lineCoverage"`
		Branch *counter `json:"branchCoverage"`
	}
	if err := json.Unmarshal(raw, &api); err != nil {
		return nil, err
	}
	pct := func(c *counter) (float64, bool) {
		if c == nil || c.Total <= 0 || c.Covered < 0 || c.Covered > c.Total {
			return 0, false
		}
		return 100 * float64(c.Covered) / float64(c.Total), true
	}
	line, ok := pct(api.Line)
	if !ok {
		return nil, fmt.Errorf("no measured lineCoverage: %w", ErrMissing)
	}
	cov := &gatekeeper.Coverage{Line: line, Source: "jacoco"}
	if b, ok := pct(api.Branch); ok {
		cov.Branch = &b
	}
	return cov, nil
}

// checkRange rejects percentages outside 0–100.
func checkRange(c *gatekeeper.Coverage) error {
	if c.Line < 0 || c.Line > 100 || math.IsNaN(c.Line) {
		return fmt.Errorf("line coverage %v out of range", c.Line)
	}
	if c.Branch != nil && (*c.Branch < 0 || *c.Branch > 100 || math.IsNaN(*c.Branch)) {
		return fmt.Errorf("branch coverage %v out of range", *c.Branch)
	}
	return nil
}
