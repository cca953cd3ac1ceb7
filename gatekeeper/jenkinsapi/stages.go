package jenkinsapi

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/bndr/gojenkins"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// StageMap maps each release stage key (gatekeeper.SeedStages) to the
// Jenkins stage names that count as it, compared case-insensitively and
// with runs of white space taken as one space. Several Jenkins stages may
// count as one release stage (then all of them must pass); a Jenkins stage
// name may count for one release stage only.
type StageMap map[string][]string

// DefaultStageMap returns the stage names the seed Jenkinsfile is expected
// to use. Teams whose names differ configure their own (ParseStageMap).
func DefaultStageMap() StageMap {
	return StageMap{
		gatekeeper.StageClone:     {"Clone", "Checkout", "Checkout SCM", "Declarative: Checkout SCM"},
		gatekeeper.StageBuild:     {"Build", "Build image", "Build and image", "Docker build"},
		gatekeeper.StageUnitTests: {"Unit tests", "Unit test", "Test", "Tests", "Unit tests and coverage"},
		gatekeeper.StageScan:      {"Scan", "Image scan", "Vulnerability scan", "Security scan"},
		gatekeeper.StagePush:      {"Push", "Image push", "Push image"},
		gatekeeper.StageChart:     {"Helm", "Helm chart", "Chart", "Package chart", "Publish chart"},
		gatekeeper.StageDeploy:    {"Deploy", "Deploy to pre-production", "Integration tests"},
	}
}

// ParseStageMap parses "clone=Checkout|Clone;build=Build;…", the form for
// an environment variable: stage keys separated by ";", names by "|".
// Keys not named keep no names, so a partial map leaves those release
// stages unmatched: they are then missing, never passed.
func ParseStageMap(s string) (StageMap, error) {
	m := StageMap{}
	for _, part := range strings.Split(s, ";") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		key, names, ok := strings.Cut(part, "=")
		key = strings.TrimSpace(key)
		if !ok || key == "" {
			return nil, fmt.Errorf("parsing stage map: %q is not key=name|name: %w", part, gatekeeper.ErrInvalid)
		}
		if _, dup := m[key]; dup {
			return nil, fmt.Errorf("parsing stage map: stage %q given twice: %w", key, gatekeeper.ErrInvalid)
		}
		for _, n := range strings.Split(names, "|") {
			m[key] = append(m[key], strings.TrimSpace(n))
		}
	}
	if _, err := m.index(); err != nil {
		return nil, err
	}
	return m, nil
}

// String returns the map in the form ParseStageMap reads, keys in pipeline
// order.
func (m StageMap) String() string {
	var parts []string
	for _, k := range gatekeeper.SeedStages() {
		if names, ok := m[k]; ok {
			parts = append(parts, k+"="+strings.Join(names, "|"))
		}
	}
	return strings.Join(parts, ";")
}

// Keys returns the function that maps a Jenkins stage name onto its release
// stage key, "" for a name the map does not list, compared as the map
// compares names. An invalid map (ParseStageMap's errors) maps every name
// to "": its stages then count for no release stage, which fails closed.
func (m StageMap) Keys() func(name string) string {
	idx, err := m.index()
	if err != nil {
		return func(string) string { return "" }
	}
	return func(name string) string { return idx[normStage(name)] }
}

// stageIndex maps a normalised Jenkins stage name to its release stage key.
type stageIndex map[string]string

// index validates m and builds its lookup table.
func (m StageMap) index() (stageIndex, error) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys) // deterministic error messages
	idx := stageIndex{}
	for _, k := range keys {
		if !slices.Contains(gatekeeper.SeedStages(), k) {
			return nil, fmt.Errorf("stage map: %q is not a release stage (%s): %w", k, strings.Join(gatekeeper.SeedStages(), ", "), gatekeeper.ErrInvalid)
		}
		for _, n := range m[k] {
			nn := normStage(n)
			if nn == "" {
				return nil, fmt.Errorf("stage map: empty stage name for %q: %w", k, gatekeeper.ErrInvalid)
			}
			if strings.ContainsAny(n, ";|") {
				return nil, fmt.Errorf("stage map: stage name %q contains ; or |: %w", n, gatekeeper.ErrInvalid)
			}
			if prev, dup := idx[nn]; dup && prev != k {
				return nil, fmt.Errorf("stage map: stage name %q counts for both %q and %q: %w", n, prev, k, gatekeeper.ErrInvalid)
			}
			idx[nn] = k
		}
	}
	return idx, nil
}

// normStage folds case and white space so that "Unit  Tests" matches
// "unit tests".
func normStage(s string) string {
	return strings.ToLower(strings.Join(strings.Fields(s), " "))
}

// stages converts Stage View stages, setting each one's release stage key.
func (idx stageIndex) stages(nodes []gojenkins.PipelineNode) []gatekeeper.Stage {
	out := make([]gatekeeper.Stage, 0, len(nodes))
	for _, n := range nodes {
		out = append(out, gatekeeper.Stage{
			Name:     n.Name,
			Key:      idx[normStage(n.Name)],
			Status:   n.Status,
			Duration: time.Duration(n.Duration) * time.Millisecond,
		})
	}
	return out
}

// Stages fetches a Pipeline build's stages from the Stage View API
// (<build>/wfapi/describe, through gojenkins' Job.GetPipelineRun) with
// their release stage keys. A build without a stage view (not a Pipeline,
// or the plugin absent) is ErrMissing.
func (c *Client) Stages(ctx context.Context, jobURL string, number int64) ([]gatekeeper.Stage, error) {
	r, err := newRef(jobURL, number)
	if err != nil {
		return nil, fmt.Errorf("fetching stages: %w", err)
	}
	return c.stagesOf(ctx, r)
}

func (c *Client) stagesOf(ctx context.Context, r ref) ([]gatekeeper.Stage, error) {
	// gojenkins asks for <build>/wfapi/describe/api/json; Stapler serves
	// the describe web method with the extra tokens left over.
	run, err := r.job(c.withContext(ctx)).GetPipelineRun(ctx, strconv.FormatInt(r.number, 10))
	if err != nil {
		return nil, fmt.Errorf("fetching stages of %s: %w", r, err)
	}
	// gojenkins decodes whatever JSON came back into zero values; a stage
	// view always has a run status and named stages with a status.
	if run.Status == "" {
		return nil, fmt.Errorf("decoding stages of %s: the stage view has no status", r)
	}
	for i, s := range run.Stages {
		if s.Name == "" || s.Status == "" {
			return nil, fmt.Errorf("decoding stages of %s: stage %d has no name or status", r, i)
		}
	}
	idx, err := c.stageIndex()
	if err != nil {
		return nil, fmt.Errorf("mapping stages of %s: %w", r, err)
	}
	return idx.stages(run.Stages), nil
}
