package webhooks

import (
	"context"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
)

// readyTimeout bounds a readiness check, so that a store that hangs makes
// the probe fail rather than pile up.
const readyTimeout = 2 * time.Second

// healthz answers 200 while the process serves: liveness only.
func (s *server) healthz(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"ok": true})
}

// readyz answers 200 when the service can do its job (a policy is loaded,
// the store answers), else 503 with the reason.
func (s *server) readyz(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), readyTimeout)
	defer cancel()
	if err := s.svc.Ready(ctx); err != nil {
		s.log.WarnContext(ctx, "not ready", "err", err.Error())
		c.JSON(http.StatusServiceUnavailable, gin.H{"ready": false, "error": err.Error()})
		return
	}
	c.JSON(http.StatusOK, gin.H{"ready": true})
}
