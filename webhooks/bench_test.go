package webhooks_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/gin-gonic/gin"
)

// BenchmarkAcknowledge measures the whole receiver path for one delivery:
// bounded read, HMAC-SHA256, go-github parse and conversion, and
// Service.Accept over the in-memory store (route, dedupe, fold, queue).
// Every iteration is a new delivery id for the same pull request, so the
// store does real work and nothing is answered as a duplicate.
// test/ reruns it over bbolt to measure the durable variant.
func BenchmarkAcknowledge(b *testing.B) {
	h := newHarness(b)
	payload := readFixture(b, "pull_request.synchronize.json")
	sig := sign(testSecret, payload)
	var n atomic.Int64
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r := httptest.NewRequest(http.MethodPost, "/webhooks/github", bytes.NewReader(payload))
			r.Header.Set("Content-Type", "application/json")
			r.Header.Set("X-GitHub-Event", "pull_request")
			r.Header.Set("X-GitHub-Delivery", "bench-"+strconv.FormatInt(n.Add(1), 10))
			r.Header.Set("X-Hub-Signature-256", sig)
			w := httptest.NewRecorder()
			h.handler.ServeHTTP(w, r)
			if w.Code != http.StatusAccepted {
				b.Fatalf("status = %d; body %s", w.Code, w.Body)
			}
		}
	})
}

// BenchmarkBareHandler is the floor BenchmarkAcknowledge is compared with:
// a gin handler that only checks the HMAC and decodes the JSON into a map.
func BenchmarkBareHandler(b *testing.B) {
	secret := []byte(testSecret)
	r := gin.New()
	r.POST("/webhooks/github", func(c *gin.Context) {
		body, err := io.ReadAll(c.Request.Body)
		if err != nil {
			c.Status(http.StatusBadRequest)
			return
		}
		mac := hmac.New(sha256.New, secret)
		mac.Write(body)
		got, err := hex.DecodeString(c.GetHeader("X-Hub-Signature-256")[len("sha256="):])
		if err != nil || !hmac.Equal(got, mac.Sum(nil)) {
			c.Status(http.StatusUnauthorized)
			return
		}
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			c.Status(http.StatusBadRequest)
			return
		}
		c.JSON(http.StatusAccepted, gin.H{"result": "accepted"})
	})
	payload := readFixture(b, "pull_request.synchronize.json")
	sig := sign(testSecret, payload)
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest(http.MethodPost, "/webhooks/github", bytes.NewReader(payload))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Hub-Signature-256", sig)
			w := httptest.NewRecorder()
			r.ServeHTTP(w, req)
			if w.Code != http.StatusAccepted {
				b.Fatalf("status = %d", w.Code)
			}
		}
	})
}
