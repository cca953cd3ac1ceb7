package githubapi

import (
	"bytes"
	"compress/flate"
	"container/list"
	"context"
	"crypto/sha256"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// Budget configures how the Client spends GitHub's rate limits. Zero fields
// take the defaults named on each field.
type Budget struct {
	// CacheEntries bounds the answers kept for conditional requests
	// (default DefaultCacheEntries); the least recently used goes first.
	CacheEntries int
	// CacheBytes bounds the bodies kept, in all, as kept (compressed)
	// (default DefaultCacheBytes).
	CacheBytes int64
	// MaxEntryBytes is the largest body kept, uncompressed (default
	// DefaultMaxEntryBytes); a larger answer is passed on, not kept.
	MaxEntryBytes int64
	// WriteInterval is the sustained pace of content-creating requests
	// (POST, PATCH, PUT, DELETE) per credential (default
	// DefaultWriteInterval); WriteBurst of them may go at once after a
	// quiet spell. Negative: no pacing (tests).
	WriteInterval time.Duration
	// WriteBurst is how many writes may go without waiting (default
	// DefaultWriteBurst).
	WriteBurst int
	// MaxStatusesPerContext is how many statuses the Publisher posts on
	// one commit in one context before refusing (default
	// DefaultMaxStatusesPerContext): GitHub keeps 1,000 and refuses
	// beyond them.
	MaxStatusesPerContext int
}

// Defaults of Budget.
const (
	DefaultCacheEntries  = 20000
	DefaultCacheBytes    = 64 << 20
	DefaultMaxEntryBytes = 1 << 20
	// DefaultWriteInterval and DefaultWriteBurst keep any minute under
	// GitHub's secondary limit of about 80 content-creating requests
	// (15 + 60 = 75), and writes a second apart once a burst is spent, as
	// GitHub advises.
	DefaultWriteInterval = time.Second
	DefaultWriteBurst    = 15
	// DefaultMaxStatusesPerContext leaves a margin below GitHub's 1,000
	// statuses per commit and context, for other replicas and restarts
	// this process does not know of.
	DefaultMaxStatusesPerContext = 900
)

func (b Budget) withDefaults() Budget {
	if b.CacheEntries <= 0 {
		b.CacheEntries = DefaultCacheEntries
	}
	if b.CacheBytes <= 0 {
		b.CacheBytes = DefaultCacheBytes
	}
	if b.MaxEntryBytes <= 0 {
		b.MaxEntryBytes = DefaultMaxEntryBytes
	}
	if b.WriteInterval == 0 {
		b.WriteInterval = DefaultWriteInterval
	}
	if b.WriteBurst <= 0 {
		b.WriteBurst = DefaultWriteBurst
	}
	if b.MaxStatusesPerContext <= 0 {
		b.MaxStatusesPerContext = DefaultMaxStatusesPerContext
	}
	return b
}

// CacheHeader is set, with the value Revalidated, on the answer the budget
// transport makes from its cache when GitHub answered 304 Not Modified:
// go-github sees the 200 it stored, and Observe reports "304".
const (
	CacheHeader = "X-Gatekeeper-Cache"
	Revalidated = "revalidated"
)

// Code304 is the Observe result of a call GitHub answered 304 Not Modified
// (served from the cache, free of rate limit).
const Code304 = "304"

// budgetTransport is the http.RoundTripper under every GitHub call. It
// sits below the authentication (which sets Authorization before calling
// it), so it sees the credential of each request, and wraps whatever base
// transport it is given. It:
//
//   - makes every GET conditional: an answer with an ETag or
//     Last-Modified is kept (keyed by a hash of the credential, the
//     Accept header and the URL), and the next GET of the same URL sends
//     If-None-Match / If-Modified-Since. GitHub answers 304, which costs
//     no rate limit, when nothing changed; the transport then returns the
//     kept answer, marked with CacheHeader. Memory is bounded by entry
//     count and bytes, least recently used first out.
//   - paces content-creating requests per credential with a token bucket
//     (Budget.WriteInterval, Budget.WriteBurst), waiting on the Client's
//     Clock and Sleep; the wait ends with the request's context.
//   - reports X-RateLimit-Remaining of every answer to remaining.
//
// It is safe for concurrent use.
type budgetTransport struct {
	base      http.RoundTripper
	budget    Budget
	clock     gatekeeper.Clock
	sleep     func(context.Context, time.Duration) error
	remaining func(resource string, n int)

	mu    sync.Mutex
	lru   *list.List // of *cacheEntry, most recent first
	byKey map[string]*list.Element
	bytes int64
	// writes holds, per credential, when the bucket is next full enough
	// for one more write (the "virtual time" of a GCRA bucket).
	writes map[string]time.Time
}

type cacheEntry struct {
	key          string
	etag         string
	lastModified string
	header       http.Header
	// body is the answer's body compressed (DEFLATE, fastest level):
	// GitHub's JSON shrinks several times over, and 1,000 pull requests'
	// answers (~25 KB each uncompressed) then hold a few MiB, not tens.
	body []byte
	// plain is the body's length uncompressed.
	plain int64
}

// deflaters reuses the compressors of kept bodies (each holds several
// hundred KB of state).
var deflaters = sync.Pool{New: func() any {
	w, _ := flate.NewWriter(nil, flate.BestSpeed)
	return w
}}

// deflate compresses b into a slice of its own size.
func deflate(b []byte) []byte {
	var buf bytes.Buffer
	buf.Grow(len(b)/4 + 64)
	w := deflaters.Get().(*flate.Writer)
	w.Reset(&buf)
	w.Write(b) // a bytes.Buffer does not fail
	w.Close()
	deflaters.Put(w)
	return bytes.Clone(buf.Bytes())
}

func newBudgetTransport(base http.RoundTripper, b Budget, clock gatekeeper.Clock,
	sleep func(context.Context, time.Duration) error, remaining func(string, int)) *budgetTransport {
	if base == nil {
		base = http.DefaultTransport
	}
	if remaining == nil {
		remaining = func(string, int) {}
	}
	return &budgetTransport{
		base: base, budget: b.withDefaults(), clock: clock, sleep: sleep, remaining: remaining,
		lru: list.New(), byKey: map[string]*list.Element{}, writes: map[string]time.Time{},
	}
}

// credentialKey is the context key under which a transport above names the
// credential a request goes as ("installation/42"), so that kept answers
// and write pacing follow the installation rather than its token, which
// GitHub replaces every hour.
type credentialKey struct{}

// withCredential names the credential of the requests made with ctx.
func withCredential(ctx context.Context, name string) context.Context {
	return context.WithValue(ctx, credentialKey{}, name)
}

// credential names the credential of req without keeping it: the name a
// transport above gave it, else a hash of its Authorization header (""
// when unauthenticated).
func credential(req *http.Request) string {
	if name, ok := req.Context().Value(credentialKey{}).(string); ok && name != "" {
		return "name:" + name
	}
	a := req.Header.Get("Authorization")
	if a == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(a))
	return string(sum[:])
}

// RoundTrip implements http.RoundTripper.
func (t *budgetTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	switch req.Method {
	case http.MethodGet:
		return t.conditional(req)
	case http.MethodPost, http.MethodPatch, http.MethodPut, http.MethodDelete:
		if strings.HasSuffix(req.URL.Path, "/access_tokens") {
			break // a GitHub App's token, which creates no content
		}
		if err := t.pace(req.Context(), credential(req)); err != nil {
			if req.Body != nil {
				req.Body.Close()
			}
			return nil, err
		}
	}
	resp, err := t.base.RoundTrip(req)
	t.observe(resp)
	return resp, err
}

// pace waits for the write bucket of cred (a GCRA token bucket: one write
// per WriteInterval on average, WriteBurst at once).
func (t *budgetTransport) pace(ctx context.Context, cred string) error {
	every := t.budget.WriteInterval
	if every < 0 {
		return nil
	}
	burst := time.Duration(t.budget.WriteBurst-1) * every
	t.mu.Lock()
	now := t.clock.Now()
	tat := t.writes[cred]
	if tat.Before(now) {
		tat = now
	}
	wait := tat.Sub(now) - burst
	if wait < 0 {
		wait = 0
	}
	t.writes[cred] = tat.Add(every)
	if len(t.writes) > 1000 { // old installation tokens
		for k, v := range t.writes {
			if v.Before(now) {
				delete(t.writes, k)
			}
		}
	}
	t.mu.Unlock()
	if wait == 0 {
		return nil
	}
	return t.sleep(ctx, wait)
}

// observe reports GitHub's remaining rate limit named in resp.
func (t *budgetTransport) observe(resp *http.Response) {
	if resp == nil {
		return
	}
	n, err := strconv.Atoi(resp.Header.Get("X-RateLimit-Remaining"))
	if err != nil {
		return
	}
	resource := resp.Header.Get("X-RateLimit-Resource")
	if resource == "" {
		resource = "core"
	}
	t.remaining(resource, n)
}

// conditional makes a GET conditional on the answer kept for it, and keeps
// the new answer when it carries a validator.
func (t *budgetTransport) conditional(req *http.Request) (*http.Response, error) {
	if req.Header.Get("If-None-Match") != "" || req.Header.Get("If-Modified-Since") != "" || req.Header.Get("Range") != "" {
		resp, err := t.base.RoundTrip(req) // the caller's own condition
		t.observe(resp)
		return resp, err
	}
	key := credential(req) + "\x00" + req.Header.Get("Accept") + "\x00" + req.URL.String()
	kept := t.get(key)
	out := req
	if kept != nil {
		out = req.Clone(req.Context())
		if kept.etag != "" {
			out.Header.Set("If-None-Match", kept.etag)
		}
		if kept.lastModified != "" {
			out.Header.Set("If-Modified-Since", kept.lastModified)
		}
	}
	resp, err := t.base.RoundTrip(out)
	if err != nil {
		return resp, err
	}
	t.observe(resp)
	switch {
	case resp.StatusCode == http.StatusNotModified && kept != nil:
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		resp.Body.Close()
		return kept.response(req, resp), nil
	case resp.StatusCode == http.StatusOK:
		return t.keep(key, resp), nil
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		// What was kept is gone (a deleted comment) or no longer
		// visible: never answer from it again.
		t.drop(key)
		return resp, nil
	default:
		// A rate limit, a 5xx: the kept answer stays, so that the
		// retry is conditional too.
		return resp, nil
	}
}

// response is the kept answer to req, with the rate-limit headers and date
// of fresh (GitHub's 304), marked Revalidated.
func (e *cacheEntry) response(req *http.Request, fresh *http.Response) *http.Response {
	h := e.header.Clone()
	for _, name := range []string{"Date", "X-Ratelimit-Limit", "X-Ratelimit-Remaining", "X-Ratelimit-Reset",
		"X-Ratelimit-Used", "X-Ratelimit-Resource", "X-Github-Request-Id"} {
		if v := fresh.Header.Values(name); len(v) > 0 {
			h[name] = v
		}
	}
	h.Set(CacheHeader, Revalidated)
	return &http.Response{
		Status: "200 OK", StatusCode: http.StatusOK,
		Proto: fresh.Proto, ProtoMajor: fresh.ProtoMajor, ProtoMinor: fresh.ProtoMinor,
		Header: h, Body: flate.NewReader(bytes.NewReader(e.body)), ContentLength: e.plain,
		Request: req,
	}
}

// keep reads resp's body when it carries a validator and is small enough,
// keeps it, and returns resp with its body still readable.
func (t *budgetTransport) keep(key string, resp *http.Response) *http.Response {
	etag, lm := resp.Header.Get("ETag"), resp.Header.Get("Last-Modified")
	if etag == "" && lm == "" {
		t.drop(key)
		return resp
	}
	limit := t.budget.MaxEntryBytes
	if resp.ContentLength > limit {
		t.drop(key)
		return resp
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil || int64(len(body)) > limit {
		// Too big (or cut short): hand on what was read and the
		// rest, keep nothing.
		t.drop(key)
		resp.Body = readCloser{io.MultiReader(bytes.NewReader(body), resp.Body), resp.Body}
		return resp
	}
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	t.put(&cacheEntry{key: key, etag: etag, lastModified: lm, header: resp.Header.Clone(),
		body: deflate(body), plain: int64(len(body))})
	return resp
}

type readCloser struct {
	io.Reader
	io.Closer
}

func (t *budgetTransport) get(key string) *cacheEntry {
	t.mu.Lock()
	defer t.mu.Unlock()
	el, ok := t.byKey[key]
	if !ok {
		return nil
	}
	t.lru.MoveToFront(el)
	return el.Value.(*cacheEntry)
}

func (t *budgetTransport) put(e *cacheEntry) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.removeLocked(e.key)
	t.byKey[e.key] = t.lru.PushFront(e)
	t.bytes += e.size()
	for t.lru.Len() > t.budget.CacheEntries || t.bytes > t.budget.CacheBytes {
		t.removeLocked(t.lru.Back().Value.(*cacheEntry).key)
	}
}

func (t *budgetTransport) drop(key string) {
	t.mu.Lock()
	t.removeLocked(key)
	t.mu.Unlock()
}

func (t *budgetTransport) removeLocked(key string) {
	el, ok := t.byKey[key]
	if !ok {
		return
	}
	t.lru.Remove(el)
	delete(t.byKey, key)
	t.bytes -= el.Value.(*cacheEntry).size()
}

// size is what an entry costs against CacheBytes: its body (compressed)
// and key, and a rough allowance for its headers.
func (e *cacheEntry) size() int64 {
	return int64(len(e.body)+len(e.key)) + 1024
}

// stats returns the entries and bytes kept, for tests.
func (t *budgetTransport) stats() (entries int, bytes int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.lru.Len(), t.bytes
}
