package jenkinsapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
)

// ErrMissing reports that Jenkins answered 404: the job, the build or the
// report (test report, coverage, stage view) does not exist. Callers record
// such a report as missing, which never counts as a pass.
var ErrMissing = errors.New("missing in jenkins")

// ResponseError is an answer from Jenkins that cannot be used as evidence:
// a status other than 2xx, or a 2xx whose body is not the JSON asked for.
// It matches ErrMissing (errors.Is) when Status is 404.
type ResponseError struct {
	Method string
	// Path is the request path, without the host, the query and any
	// credentials.
	Path   string
	Status int
	// Reason says what is wrong when the status alone does not.
	Reason string
}

// Error describes the answer.
func (e *ResponseError) Error() string {
	s := fmt.Sprintf("jenkins answered %s %s with %d %s", e.Method, e.Path, e.Status, http.StatusText(e.Status))
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	return s
}

// Is makes a 404 match ErrMissing.
func (e *ResponseError) Is(target error) bool {
	return target == ErrMissing && e.Status == http.StatusNotFound
}

// checkTransport binds one call's context to gojenkins' requests (gojenkins
// builds them with http.NewRequest, without a context) and turns answers
// gojenkins would silently decode into zero values into errors.
//
// It returns an error instead of a response for a non-2xx answer, which
// net/http's RoundTripper contract discourages; it is only ever used by
// the http.Client this package gives gojenkins, whose callers want exactly
// that. Redirects (3xx) pass through for the http.Client to follow.
type checkTransport struct {
	ctx     context.Context
	next    http.RoundTripper
	maxBody int64
}

// RoundTrip sends req with the bound context and checks the answer.
func (t *checkTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req.WithContext(t.ctx))
	if err != nil {
		return nil, err
	}
	rerr := &ResponseError{Method: req.Method, Path: req.URL.EscapedPath(), Status: resp.StatusCode}
	switch {
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		return resp, nil
	case resp.StatusCode < 200 || resp.StatusCode >= 300:
		// Drain a little so that the connection can be reused.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		return nil, rerr
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, t.maxBody+1))
	resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", rerr.Path, err)
	}
	if int64(len(body)) > t.maxBody {
		rerr.Reason = fmt.Sprintf("body larger than %d bytes", t.maxBody)
		return nil, rerr
	}
	// Every read this package makes ends in /api/json (gojenkins appends
	// it); such an answer must be JSON, not a login or proxy error page.
	if strings.HasSuffix(req.URL.Path, "/api/json") {
		if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "application/json" && !strings.HasSuffix(mt, "+json") {
			rerr.Reason = fmt.Sprintf("content type %q, want application/json", resp.Header.Get("Content-Type"))
			return nil, rerr
		}
		if !json.Valid(body) {
			rerr.Reason = "body is not valid JSON"
			return nil, rerr
		}
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	return resp, nil
}
