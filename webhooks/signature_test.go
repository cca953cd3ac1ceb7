package webhooks

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

func TestCheckSignature(t *testing.T) {
	t.Parallel()
	// The official test vector from GitHub's "Validating webhook
	// deliveries" page (design/PROTOCOLS.md).
	const (
		secret  = "It's a Secret to Everybody"
		payload = "Hello, World!"
		vector  = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
	)
	tests := []struct {
		name   string
		secret string
		header string
		body   string
		ok     bool
	}{
		{name: "official vector", secret: secret, header: vector, body: payload, ok: true},
		{name: "upper-case hex", secret: secret, header: "sha256=" + strings.ToUpper(strings.TrimPrefix(vector, "sha256=")), body: payload, ok: true},
		{name: "other secret", secret: "It's a secret to everybody", header: vector, body: payload},
		{name: "other body", secret: secret, header: vector, body: payload + "\n"},
		{name: "empty body", secret: secret, header: vector, body: ""},
		{name: "no prefix", secret: secret, header: strings.TrimPrefix(vector, "sha256="), body: payload},
		{name: "sha1 prefix", secret: secret, header: "sha1=" + strings.TrimPrefix(vector, "sha256="), body: payload},
		{name: "upper-case prefix", secret: secret, header: "SHA256=" + strings.TrimPrefix(vector, "sha256="), body: payload},
		{name: "truncated digest", secret: secret, header: vector[:len(vector)-2], body: payload},
		{name: "not hex", secret: secret, header: "sha256=zz7107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17", body: payload},
		{name: "empty digest", secret: secret, header: "sha256=", body: payload},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := checkSignature([]byte(tt.secret), tt.header, []byte(tt.body))
			if tt.ok && err != nil {
				t.Errorf("checkSignature = %v, want nil", err)
			}
			if !tt.ok && !errors.Is(err, gatekeeper.ErrUnauthorized) {
				t.Errorf("checkSignature = %v, want ErrUnauthorized", err)
			}
		})
	}
}

func TestHTTPStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want int
	}{
		{name: "unauthorized", err: gatekeeper.ErrUnauthorized, want: http.StatusUnauthorized},
		{name: "invalid", err: gatekeeper.ErrInvalid, want: http.StatusBadRequest},
		{name: "not found", err: gatekeeper.ErrNotFound, want: http.StatusNotFound},
		{name: "too large", err: errTooLarge, want: http.StatusRequestEntityTooLarge},
		{name: "max bytes reader", err: &http.MaxBytesError{Limit: MaxBody}, want: http.StatusRequestEntityTooLarge},
		{name: "store failure", err: errors.New("bolt: database not open"), want: http.StatusServiceUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := httpStatus(errWrap(tt.err)); got != tt.want {
				t.Errorf("httpStatus(%v) = %d, want %d", tt.err, got, tt.want)
			}
		})
	}
}

type wrapped struct{ err error }

func (w wrapped) Error() string { return "doing something: " + w.err.Error() }
func (w wrapped) Unwrap() error { return w.err }

// errWrap wraps err once, as callers do, so the test shows errors.Is/As at
// work rather than equality.
func errWrap(err error) error { return wrapped{err} }

// FuzzSignature checks that checkSignature never panics and accepts a
// header exactly when it is "sha256=" followed by the hex HMAC of the body
// (in either case of hex digits).
func FuzzSignature(f *testing.F) {
	f.Add([]byte("It's a Secret to Everybody"), "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17", []byte("Hello, World!"))
	f.Add([]byte("s"), "sha1=0123", []byte("{}"))
	f.Add([]byte("s"), "sha256=", []byte(""))
	f.Add([]byte("s"), "", []byte("x"))
	f.Fuzz(func(t *testing.T, secret []byte, header string, body []byte) {
		err := checkSignature(secret, header, body)
		mac := hmac.New(sha256.New, secret)
		mac.Write(body)
		want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
		valid := strings.HasPrefix(header, "sha256=") && strings.EqualFold(header, want)
		if valid != (err == nil) {
			t.Errorf("checkSignature(%q, %q, %q) = %v, want valid=%v", secret, header, body, err, valid)
		}
		if err != nil && !errors.Is(err, gatekeeper.ErrUnauthorized) {
			t.Errorf("error %v does not wrap ErrUnauthorized", err)
		}
	})
}
