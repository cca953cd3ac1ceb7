package gatekeeper

import (
	"regexp"
	"strings"
)

// Chart is a Helm chart version of the form
// <module>-<major>-<minor>-<release>-<commit_sha>, split into its parts.
type Chart struct {
	Version string `json:"version"`
	Module  string `json:"module"`
	Major   string `json:"major"`
	Minor   string `json:"minor"`
	Release string `json:"release"`
	SHA     string `json:"sha"`
}

// chartVersion reads the parts from the right, since a module name may
// itself contain dashes: "payments-api-2-14-3-1a2b3c4".
var chartVersion = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]*[a-z0-9])?)-(0|[1-9][0-9]*)-(0|[1-9][0-9]*)-(0|[1-9][0-9]*)-([0-9a-f]{7,40})$`)

// ParseChartVersion splits a chart version; ok is false when it does not
// have the required form.
func ParseChartVersion(v string) (Chart, bool) {
	m := chartVersion.FindStringSubmatch(v)
	if m == nil {
		return Chart{Version: v}, false
	}
	return Chart{Version: v, Module: m[1], Major: m[3], Minor: m[4], Release: m[5], SHA: m[6]}, true
}

// PinnedTo reports whether the chart's sha names one of the commits: an
// abbreviated sha matches the full one it abbreviates.
func (c Chart) PinnedTo(commits ...string) bool {
	if len(c.SHA) < 7 {
		return false
	}
	for _, full := range commits {
		if full != "" && strings.HasPrefix(full, c.SHA) {
			return true
		}
	}
	return false
}
