package webhooks

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// pullKey reads the :owner/:repo/:number route parameters.
func pullKey(c *gin.Context) (gatekeeper.PullKey, error) {
	raw := c.Param("number")
	n, err := strconv.Atoi(raw)
	if err != nil || n <= 0 {
		return gatekeeper.PullKey{}, fmt.Errorf("pull request number %q is not a positive integer: %w", raw, gatekeeper.ErrInvalid)
	}
	k := gatekeeper.PullKey{Owner: c.Param("owner"), Repo: c.Param("repo"), Number: n}
	if !k.Valid() {
		return gatekeeper.PullKey{}, fmt.Errorf("pull request %q is not owner/repo/number: %w", k, gatekeeper.ErrInvalid)
	}
	return k, nil
}

// apiPull answers GET /api/v1/pulls/:owner/:repo/:number with the
// gatekeeper.PullView: evidence, latest decision and decision history.
func (s *server) apiPull(c *gin.Context) {
	ctx := c.Request.Context()
	key, err := pullKey(c)
	if err == nil {
		if !s.mayRead(c, key) {
			return
		}
		var view *gatekeeper.PullView
		view, err = s.svc.Pull(ctx, key, s.history)
		if err == nil {
			c.JSON(http.StatusOK, view)
			return
		}
	}
	code := httpStatus(err)
	if code == http.StatusNotFound {
		// The same words as for a repository the viewer may not read.
		err = gatekeeper.ErrNotFound
	}
	if code >= http.StatusInternalServerError {
		s.log.ErrorContext(ctx, "loading pull request", "pr", c.Param("owner")+"/"+c.Param("repo")+"#"+c.Param("number"), "err", err.Error())
	}
	c.JSON(code, gin.H{"error": publicError(err)})
}
