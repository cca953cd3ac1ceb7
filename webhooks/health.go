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
// the store answers), else 503 with the reason. With Options.Policy it
// also says which policy revision is in force and which is refused.
func (s *server) readyz(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), readyTimeout)
	defer cancel()
	body := gin.H{"ready": true}
	if s.policy != nil {
		// Ready while the last good revision serves: webhooks must still
		// be recorded. The detail says which revision is refused.
		body["policy"] = s.policy()
	}
	if err := s.svc.Ready(ctx); err != nil {
		s.log.WarnContext(ctx, "not ready", "err", err.Error())
		body["ready"], body["error"] = false, err.Error()
		c.JSON(http.StatusServiceUnavailable, body)
		return
	}
	c.JSON(http.StatusOK, body)
}
