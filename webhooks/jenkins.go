package webhooks

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// JenkinsParser turns one Jenkins delivery (a Notification plugin message
// or a pipeline report) into a domain event. It returns used == false with
// a nil error for a build that is not of a pull request job or of a job
// the gatekeeper cannot place (answered 202 and ignored), and an error
// wrapping gatekeeper.ErrInvalid for a malformed body.
// jenkinsapi.ParseNotification, wrapped in cmd, is the implementation.
type JenkinsParser func(body []byte) (e gatekeeper.Event, used bool, err error)

// jenkins receives one Jenkins delivery. Jenkins signs nothing: the shared
// token (GATEKEEPER_JENKINS_TOKEN) comes as "Authorization: Bearer" or as
// ?token= (the Notification plugin can only set a URL).
func (s *server) jenkins(c *gin.Context) {
	d := &delivery{source: "jenkins", event: "jenkins"}
	code, body, err := s.receiveJenkins(c.Request.Context(), c.Writer, c.Request, d)
	if err != nil {
		code, body = httpStatus(err), gin.H{"error": publicError(err)}
		if code == http.StatusUnauthorized {
			body = gin.H{"error": "The token is missing or wrong."}
		}
		d.result = resultOf(code)
	}
	s.logDelivery(c.Request.Context(), d, code, err)
	event := "unverified"
	if d.verified {
		event = "build"
	}
	s.metrics.Webhook("jenkins", event, d.result)
	c.JSON(code, body)
}

func (s *server) receiveJenkins(ctx context.Context, w http.ResponseWriter, r *http.Request, d *delivery) (int, any, error) {
	if len(s.jenkinsToken) == 0 || s.parseJenkins == nil {
		// Not configured: nobody can authenticate.
		return 0, nil, fmt.Errorf("the Jenkins receiver has no GATEKEEPER_JENKINS_TOKEN: %w", gatekeeper.ErrUnauthorized)
	}
	if !tokenMatches(s.jenkinsToken, jenkinsToken(r)) {
		return 0, nil, fmt.Errorf("missing or wrong Jenkins token: %w", gatekeeper.ErrUnauthorized)
	}
	d.verified = true
	raw, err := readBody(w, r)
	if err != nil {
		return 0, nil, err
	}
	e, used, err := s.parseJenkins(raw)
	if err != nil {
		return 0, nil, err
	}
	d.parsed, d.id = e, e.Delivery
	if !used {
		d.result = string(gatekeeper.Ignored)
		return http.StatusAccepted, gin.H{"result": d.result}, nil
	}
	out, err := s.svc.Accept(ctx, e)
	if err != nil {
		return 0, nil, err
	}
	d.result = string(out)
	return http.StatusAccepted, gin.H{"result": d.result}, nil
}

// jenkinsToken returns the token a request carries, from the Authorization
// header, else from the query.
func jenkinsToken(r *http.Request) string {
	if auth := r.Header.Get("Authorization"); auth != "" {
		if tok, ok := strings.CutPrefix(auth, "Bearer "); ok {
			return tok
		}
		return ""
	}
	return r.URL.Query().Get("token")
}

// tokenMatches compares in constant time. Both sides are hashed first, so
// that the comparison does not reveal the token's length either.
func tokenMatches(want []byte, got string) bool {
	if got == "" {
		return false
	}
	a, b := sha256.Sum256(want), sha256.Sum256([]byte(got))
	return hmac.Equal(a[:], b[:])
}
