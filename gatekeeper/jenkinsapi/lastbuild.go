package jenkinsapi

import (
	"context"
	"encoding/json"
	"fmt"
)

// lastBuild returns the number of the newest build Jenkins has of the job
// at jobPath (a path the domain keeps: "job/acme/job/shop/job/PR-7-merge"),
// 0 when it has none. Jenkins numbers a build, and lists it as the job's
// lastBuild, before it notifies about it: a build claimed with a higher
// number is one Jenkins does not have. A job Jenkins does not have is
// ErrMissing.
func (c *Client) lastBuild(ctx context.Context, jobPath string) (int64, error) {
	r, err := newRef(jobPath, 0)
	if err != nil {
		return 0, fmt.Errorf("fetching job: %w", err)
	}
	r.number = 0
	var raw rawJSON
	if _, err := c.withContext(ctx).Requester.GetJSON(ctx, r.endpoint(), &raw, map[string]string{"tree": "lastBuild[number],nextBuildNumber,builds[number]{0,1}"}); err != nil {
		return 0, fmt.Errorf("fetching job %s: %w", r, err)
	}
	type number struct {
		Number int64 `json:"number"`
	}
	var w struct {
		LastBuild       *number  `json:"lastBuild"`
		NextBuildNumber int64    `json:"nextBuildNumber"`
		Builds          []number `json:"builds"`
	}
	if err := json.Unmarshal(raw, &w); err != nil {
		return 0, fmt.Errorf("decoding job %s: %w", r, err)
	}
	// The highest of what the job says: a build Jenkins has must never
	// be taken for one it has not.
	last := max(w.NextBuildNumber-1, 0)
	if w.LastBuild != nil {
		last = max(last, w.LastBuild.Number)
	}
	for _, b := range w.Builds {
		last = max(last, b.Number)
	}
	return last, nil
}
