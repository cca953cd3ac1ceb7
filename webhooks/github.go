package webhooks

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// The GitHub delivery headers the receiver reads.
const (
	headerEvent     = "X-GitHub-Event"
	headerDelivery  = "X-GitHub-Delivery"
	headerSignature = "X-Hub-Signature-256"
	signaturePrefix = "sha256="
)

// delivery is what the receiver learned about one request, for its single
// log line and its metric.
type delivery struct {
	source    string // "github" or "jenkins": the receiver that took it
	id, event string
	verified  bool
	parsed    gatekeeper.Event
	result    string
}

// github receives one GitHub webhook delivery.
func (s *server) github(c *gin.Context) {
	d := &delivery{source: "github", id: c.GetHeader(headerDelivery), event: c.GetHeader(headerEvent)}
	code, body, err := s.receiveGitHub(c.Request.Context(), c.Writer, c.Request, d)
	if err != nil {
		code, body = httpStatus(err), gin.H{"error": publicError(err)}
		d.result = resultOf(code)
	}
	s.logDelivery(c.Request.Context(), d, code, err)
	event := d.event
	if !d.verified {
		// Unauthenticated headers must not mint metric label values.
		event = "unverified"
	}
	s.metrics.Webhook("github", event, d.result)
	c.JSON(code, body)
}

// receiveGitHub does the work of github and returns the status and body to
// answer, or an error for httpStatus. The order matters: nothing is done
// with the body before it is bounded and authenticated.
func (s *server) receiveGitHub(ctx context.Context, w http.ResponseWriter, r *http.Request, d *delivery) (int, any, error) {
	sig := r.Header.Get(headerSignature)
	if sig == "" {
		// Never fall back to the SHA-1 X-Hub-Signature, never skip.
		return 0, nil, fmt.Errorf("no %s header: %w", headerSignature, gatekeeper.ErrUnauthorized)
	}
	raw, err := readBody(w, r)
	if err != nil {
		return 0, nil, err
	}
	if err := checkSignature(s.secret, sig, raw); err != nil {
		return 0, nil, err
	}
	d.verified = true
	if d.event == "" || d.id == "" {
		return 0, nil, fmt.Errorf("%s and %s headers are required: %w", headerEvent, headerDelivery, gatekeeper.ErrInvalid)
	}
	payload, err := payloadOf(r.Header.Get("Content-Type"), raw)
	if err != nil {
		return 0, nil, err
	}
	if d.event == "ping" {
		var ping struct {
			Zen string `json:"zen"`
		}
		if err := json.Unmarshal(payload, &ping); err != nil {
			return 0, nil, fmt.Errorf("decoding ping payload: %w: %w", gatekeeper.ErrInvalid, err)
		}
		d.result = "ping"
		return http.StatusOK, gin.H{"ok": true, "zen": ping.Zen}, nil
	}
	e, used, err := s.parse(d.event, d.id, payload)
	if err != nil {
		return 0, nil, err
	}
	d.parsed = e
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

// readBody reads the whole body, at most MaxBody bytes. A Content-Length
// over the limit is refused before reading anything; memory follows the
// bytes received, and large bodies are read a few at a time (readBounded).
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.ContentLength > MaxBody {
		return nil, fmt.Errorf("reading body: %d bytes, over the %d MiB limit: %w", r.ContentLength, MaxBody>>20, errTooLarge)
	}
	var buf bytes.Buffer
	err := readBounded(r.Context(), &buf, http.MaxBytesReader(w, r.Body, MaxBody), r.ContentLength)
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return nil, fmt.Errorf("reading body: over the %d MiB limit: %w", MaxBody>>20, errTooLarge)
	}
	if err != nil {
		return nil, fmt.Errorf("reading body: %w: %w", gatekeeper.ErrInvalid, err)
	}
	return buf.Bytes(), nil
}

// checkSignature checks an X-Hub-Signature-256 value against the HMAC-SHA256
// of body under secret, in constant time. Only "sha256=" signatures are
// accepted.
func checkSignature(secret []byte, header string, body []byte) error {
	hexMAC, ok := strings.CutPrefix(header, signaturePrefix)
	if !ok {
		return fmt.Errorf("%s does not start with %s: %w", headerSignature, signaturePrefix, gatekeeper.ErrUnauthorized)
	}
	got, err := hex.DecodeString(hexMAC)
	if err != nil || len(got) != sha256.Size {
		return fmt.Errorf("%s is not a hex SHA-256 digest: %w", headerSignature, gatekeeper.ErrUnauthorized)
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return fmt.Errorf("%s does not match the body: %w", headerSignature, gatekeeper.ErrUnauthorized)
	}
	return nil
}

// payloadOf returns the JSON document of a delivery: the body itself, or
// the "payload" field of a form-encoded body. An absent Content-Type is
// taken as JSON; GitHub always sends one.
func payloadOf(contentType string, body []byte) ([]byte, error) {
	mediaType := "application/json"
	if contentType != "" {
		var err error
		mediaType, _, err = mime.ParseMediaType(contentType)
		if err != nil {
			return nil, fmt.Errorf("parsing Content-Type %q: %w", contentType, gatekeeper.ErrInvalid)
		}
	}
	switch mediaType {
	case "application/json":
		return body, nil
	case "application/x-www-form-urlencoded":
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, fmt.Errorf("decoding form body: %w: %w", gatekeeper.ErrInvalid, err)
		}
		if !form.Has("payload") {
			return nil, fmt.Errorf("form body has no payload field: %w", gatekeeper.ErrInvalid)
		}
		return []byte(form.Get("payload")), nil
	}
	return nil, fmt.Errorf("unsupported Content-Type %q: %w", mediaType, gatekeeper.ErrInvalid)
}

// resultOf names an error status for logs and metrics.
func resultOf(code int) string {
	switch code {
	case http.StatusUnauthorized:
		return "unauthorized"
	case http.StatusRequestEntityTooLarge:
		return "too_large"
	case http.StatusBadRequest:
		return "invalid"
	case http.StatusNotFound:
		return "not_found"
	}
	return "unavailable"
}

// logDelivery writes the one log line of a delivery, named for the receiver
// that took it ("github delivery", "jenkins delivery"): who, what, and what
// came of it; never the payload or the secret.
func (s *server) logDelivery(ctx context.Context, d *delivery, code int, err error) {
	attrs := []any{"source", d.source, "delivery", d.id, "event", d.event, "result", d.result, "status", code}
	if e := d.parsed; e.Name != "" {
		attrs = append(attrs, "name", e.Name)
		if e.Key.Valid() {
			attrs = append(attrs, "repo", e.Key.Owner+"/"+e.Key.Repo, "pr", e.Key.Number)
		}
		if e.SHA != "" {
			attrs = append(attrs, "sha", e.SHA)
		}
	}
	level := slog.LevelInfo
	switch {
	case code >= 500:
		level = slog.LevelError
	case code >= 400:
		level = slog.LevelWarn
	}
	if err != nil {
		attrs = append(attrs, "err", err.Error())
	}
	s.log.Log(ctx, level, d.source+" delivery", attrs...)
}
