package webhooks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/releasegate/gatekeeper/gatekeeper"
	"github.com/releasegate/gatekeeper/gatekeeper/opa"
)

// Bounds of POST /api/v1/preview: a candidate policy is someone's code
// running on the server.
const (
	// MaxPreviewBody bounds the request: the candidate's files, JSON
	// encoded (escaping can double them).
	MaxPreviewBody = 2 * opa.MaxPolicyBytes
	// PreviewEvalTimeout bounds each evaluation under the candidate,
	// whatever its release.evaluation.timeout says.
	PreviewEvalTimeout = 2 * time.Second
	// PreviewTimeout bounds the whole preview: loading and testing the
	// candidate, and evaluating every open release pull request twice.
	PreviewTimeout = 2 * time.Minute
)

// previews lets one preview run at a time: each compiles, tests and
// evaluates a policy, and the workers must keep their CPU.
var previews = make(chan struct{}, 1)

// PreviewRequest is the body of POST /api/v1/preview: the candidate policy
// folder, slash-separated relative path → content (what `gatekeeper
// preview --policies DIR` reads: Rego, data and test files).
type PreviewRequest struct {
	Files map[string]string `json:"files"`
}

// PreviewResult is the answer of POST /api/v1/preview.
type PreviewResult struct {
	// InForce and Candidate are the short revisions compared.
	InForce   string `json:"in_force"`
	Candidate string `json:"candidate"`
	// Tests is the candidate's own tests, run first; failing tests are
	// listed with the report of `gatekeeper policy test`.
	Tests opa.TestReport `json:"tests"`
	// Error says why the candidate could not be evaluated (it does not
	// load); Rows is then empty.
	Error string                  `json:"error,omitempty"`
	Rows  []gatekeeper.PreviewRow `json:"rows"`
	// Flips counts the rows whose state flips.
	Flips int `json:"flips"`
}

// apiPreview answers POST /api/v1/preview: the latest evidence of every
// open release pull request the viewer may read, under the candidate and
// the policy in force.
// It posts no status and stores nothing. 200 with the result (a candidate
// that does not load is a 200 whose error says why, as its failing tests
// are), 400 for a malformed request, 413 over MaxPreviewBody.
func (s *server) apiPreview(c *gin.Context) {
	a, ok := s.audit(c)
	if !ok {
		return
	}
	var req PreviewRequest
	body := http.MaxBytesReader(c.Writer, c.Request.Body, MaxPreviewBody)
	if err := json.NewDecoder(body).Decode(&req); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			c.JSON(http.StatusRequestEntityTooLarge, gin.H{"error": fmt.Sprintf("The candidate policy is over the %d MiB limit.", MaxPreviewBody>>20)})
			return
		}
		c.JSON(http.StatusBadRequest, gin.H{"error": "The body must be a JSON object {\"files\": {\"path\": \"content\", …}}."})
		return
	}
	if len(req.Files) == 0 {
		c.JSON(http.StatusBadRequest, gin.H{"error": "The candidate policy has no files."})
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), PreviewTimeout)
	defer cancel()
	// Someone who may read none of the repositories the gatekeeper keeps
	// decisions for has nothing to preview, and runs no code here.
	readable := s.readableOf(c)
	if some, err := a.Decisions(ctx, gatekeeper.DecisionQuery{Limit: 1}, readable); err != nil {
		s.auditError(c, err)
		return
	} else if len(some) == 0 {
		c.JSON(http.StatusNotFound, gin.H{"error": "The release gatekeeper keeps no decisions of a repository you may read."})
		return
	}
	select {
	case previews <- struct{}{}:
		defer func() { <-previews }()
	case <-ctx.Done():
		c.JSON(http.StatusServiceUnavailable, gin.H{"error": "Another preview is running; try again shortly."})
		return
	}
	res := PreviewResult{Rows: []gatekeeper.PreviewRow{}}
	engine, tests, err := opa.LoadFiles(ctx, req.Files, opa.FilesOptions{Untrusted: true, Tests: true}, opa.WithEvalTimeoutCap(PreviewEvalTimeout))
	res.Tests = tests
	if errors.Is(err, gatekeeper.ErrInvalid) {
		c.JSON(http.StatusBadRequest, gin.H{"error": sentence(err)})
		return
	}
	if err != nil {
		res.Error = err.Error()
		c.JSON(http.StatusOK, res)
		return
	}
	res.Candidate = engine.Revision()
	rows, err := a.Preview(ctx, engine, readable)
	if err != nil {
		s.log.ErrorContext(ctx, "previewing a policy", "candidate", res.Candidate, "err", err.Error())
		c.JSON(http.StatusServiceUnavailable, gin.H{"error": "The preview did not finish: " + err.Error()})
		return
	}
	res.Rows = append(res.Rows, rows...)
	for _, r := range rows {
		if r.InForce.PolicyRevision != "" {
			res.InForce = r.InForce.PolicyRevision
		}
		if r.Flips {
			res.Flips++
		}
	}
	c.JSON(http.StatusOK, res)
}
