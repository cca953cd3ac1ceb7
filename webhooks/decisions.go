package webhooks

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// auditService is what the decisions and preview endpoints need besides
// Service; *gatekeeper.Service implements it. A Service without it answers
// 501.
type auditService interface {
	Decisions(ctx context.Context, q gatekeeper.DecisionQuery, readable func(owner, repo string) (bool, error)) ([]gatekeeper.DecisionRecord, error)
	Decision(ctx context.Context, id string) (gatekeeper.DecisionRecord, gatekeeper.PolicyRevision, error)
	Preview(ctx context.Context, candidate gatekeeper.Evaluator, readable func(owner, repo string) (bool, error)) ([]gatekeeper.PreviewRow, error)
}

var _ auditService = (*gatekeeper.Service)(nil)

func (s *server) audit(c *gin.Context) (auditService, bool) {
	a, ok := s.svc.(auditService)
	if !ok {
		c.JSON(http.StatusNotImplemented, gin.H{"error": "this server keeps no decisions to list"})
	}
	return a, ok
}

// DecisionList is the answer of GET /api/v1/decisions.
type DecisionList struct {
	Decisions []gatekeeper.DecisionRecord `json:"decisions"`
}

// apiDecisions answers GET /api/v1/decisions?repo=owner/name&since=RFC3339
// &limit=N: the stored decisions, newest first, each with its id and
// without its input, of the repositories the viewer may read (repo: that
// one only, 404 when they may not read it).
func (s *server) apiDecisions(c *gin.Context) {
	a, ok := s.audit(c)
	if !ok {
		return
	}
	var q gatekeeper.DecisionQuery
	if repo := c.Query("repo"); repo != "" {
		owner, name, found := strings.Cut(repo, "/")
		if !found || !(gatekeeper.PullKey{Owner: owner, Repo: name, Number: 1}).Valid() {
			c.JSON(http.StatusBadRequest, gin.H{"error": fmt.Sprintf("repo %q is not owner/name.", repo)})
			return
		}
		if !s.mayRead(c, gatekeeper.PullKey{Owner: owner, Repo: name, Number: 1}) {
			return
		}
		q.Owner, q.Repo = owner, name
	}
	if since := c.Query("since"); since != "" {
		t, err := time.Parse(time.RFC3339, since)
		if err != nil {
			c.JSON(http.StatusBadRequest, gin.H{"error": fmt.Sprintf("since %q is not an RFC 3339 time such as 2026-12-01T00:00:00Z.", since)})
			return
		}
		q.Since = t
	}
	if limit := c.Query("limit"); limit != "" {
		n, err := strconv.Atoi(limit)
		if err != nil || n <= 0 || n > gatekeeper.MaxDecisionList {
			c.JSON(http.StatusBadRequest, gin.H{"error": fmt.Sprintf("limit %q is not a number from 1 to %d.", limit, gatekeeper.MaxDecisionList)})
			return
		}
		q.Limit = n
	}
	recs, err := a.Decisions(c.Request.Context(), q, s.readableOf(c))
	if err != nil {
		s.auditError(c, err)
		return
	}
	if recs == nil {
		recs = []gatekeeper.DecisionRecord{}
	}
	c.JSON(http.StatusOK, DecisionList{Decisions: recs})
}

// StoredDecision is the answer of GET /api/v1/decisions/{id}: the record
// with its input, and the policy revision it was made under (files empty
// when the store does not have it).
type StoredDecision struct {
	Decision gatekeeper.DecisionRecord `json:"decision"`
	Policy   gatekeeper.PolicyRevision `json:"policy"`
}

// apiDecision answers GET /api/v1/decisions/:owner/:repo/:number/:stamp.
func (s *server) apiDecision(c *gin.Context) {
	a, ok := s.audit(c)
	if !ok {
		return
	}
	id := strings.Join([]string{c.Param("owner"), c.Param("repo"), c.Param("number"), c.Param("stamp")}, "/")
	key, err := gatekeeper.ParseDecisionID(id)
	if err != nil {
		c.JSON(http.StatusBadRequest, gin.H{"error": publicError(err)})
		return
	}
	if !s.mayRead(c, key) {
		return
	}
	rec, rev, err := a.Decision(c.Request.Context(), id)
	if err != nil {
		s.auditError(c, err)
		return
	}
	c.JSON(http.StatusOK, StoredDecision{Decision: rec, Policy: rev})
}

// readableOf is readable (board.go) for the request's viewer, as the
// function the audit listings filter with; verdicts are cached for the
// request.
func (s *server) readableOf(c *gin.Context) func(owner, repo string) (bool, error) {
	v, cache := viewerOf(c), map[string]bool{}
	return func(owner, repo string) (bool, error) {
		return s.readable(c.Request.Context(), v, owner, repo, cache)
	}
}

// auditError answers a listing or look-up that failed.
func (s *server) auditError(c *gin.Context, err error) {
	switch code := httpStatus(err); {
	case errors.Is(err, gatekeeper.ErrUnauthorized):
		c.Header("WWW-Authenticate", `Bearer realm="release gatekeeper", error="invalid_token"`)
		c.JSON(http.StatusUnauthorized, gin.H{"error": "GitHub does not accept the token"})
	case code == http.StatusNotFound:
		c.JSON(code, gin.H{"error": "The release gatekeeper has no such decision, or you may not read its repository."})
	case code == http.StatusBadRequest:
		c.JSON(code, gin.H{"error": publicError(err)})
	default:
		s.log.ErrorContext(c.Request.Context(), "reading decisions", "err", err.Error())
		c.JSON(http.StatusServiceUnavailable, gin.H{"error": publicError(err)})
	}
}
