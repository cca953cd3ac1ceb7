package githubapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// BenchmarkGatherComments is one Gather of the GitHub source, as an
// evaluation makes it every MaxAge, on a pull request with 10 comments and
// on one with 5,000 (one in ten a /go by one of four voters): the pull
// request, its reviews, the comments list read since the last read, the
// voters' latest /go looked up one by one, the head's checks. The fake
// GitHub answers the comments list as GitHub does: since=, per_page and
// page, with a Link header.
func BenchmarkGatherComments(b *testing.B) {
	for _, n := range []int{10, 5000} {
		b.Run(fmt.Sprintf("comments=%d", n), func(b *testing.B) {
			gh := newFakeGitHub(b, "")
			serveHelloWorld(b, gh)
			old := testEpoch.Add(-24 * time.Hour)
			voters := []string{"lead-bob", "sre-dan", "qa-carol", "vp-erin"}
			raws := make([]json.RawMessage, n)
			stamps := make([]time.Time, n)
			ev := commentEvidence(nil)
			for i := range n {
				c := listedComment{id: int64(10_000 + i), user: fmt.Sprintf("dev-%d", i%50), body: strings.Repeat("Checked beta again. ", 20), at: old.Add(time.Duration(i) * time.Second)}
				if i%10 == 0 {
					c.user, c.body = voters[(i/10)%len(voters)], "/go"
				}
				raws[i], stamps[i] = c.json(b), c.at
				ev.Apply(gatekeeper.Event{Name: "issue_comment.created", Received: c.at, Comment: &gatekeeper.Comment{ID: c.id, User: c.user, Body: c.body, CreatedAt: c.at, UpdatedAt: c.at}})
			}
			byID := map[string]json.RawMessage{}
			for i := range raws {
				byID[strconv.Itoa(10_000+i)] = raws[i]
			}
			listPath := "/" + strings.TrimPrefix(commentsRoute, "GET /")
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch {
				case r.URL.Path == listPath:
					q := r.URL.Query()
					var since time.Time
					if s := q.Get("since"); s != "" {
						since, _ = time.Parse(time.RFC3339, s)
					}
					var match []json.RawMessage
					for i := range raws {
						if !stamps[i].Before(since) {
							match = append(match, raws[i])
						}
					}
					page, _ := strconv.Atoi(q.Get("page"))
					page = max(page, 1)
					from, to := min((page-1)*100, len(match)), min(page*100, len(match))
					if to < len(match) {
						next := *r.URL
						q.Set("page", strconv.Itoa(page+1))
						next.RawQuery = q.Encode()
						w.Header().Set("Link", `<http://`+r.Host+next.String()+`>; rel="next"`)
					}
					body, _ := json.Marshal(match[from:to])
					w.Header().Set("Content-Type", "application/json")
					w.Write(body)
				case strings.HasPrefix(r.URL.Path, "/repos/Codertocat/Hello-World/issues/comments/"):
					raw, ok := byID[strings.TrimPrefix(r.URL.Path, "/repos/Codertocat/Hello-World/issues/comments/")]
					if !ok {
						http.NotFound(w, r)
						return
					}
					w.Header().Set("Content-Type", "application/json")
					w.Write(raw)
				default:
					gh.serve(w, r)
				}
			}))
			defer srv.Close()
			s := NewSource(newTestClient(b, srv.URL+"/", newFakeTime(), nil, testRetry()), SourceOptions{MaxAge: 5 * time.Minute})
			// Steady state: the first pass over the list (20 pages a
			// Gather) has ended and set the cursor.
			for pass := 0; ; pass++ {
				first, err := s.Gather(context.Background(), ev)
				for _, e := range first {
					ev.Apply(e)
				}
				if err == nil {
					break
				}
				if pass > n/2000 {
					b.Fatal(err)
				}
				ev.Sources = map[string]gatekeeper.SourceStatus{SourceName: {OK: false}}
			}
			// A failed last Gather makes every Gather fetch again.
			ev.Sources = map[string]gatekeeper.SourceStatus{SourceName: {OK: false}}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := s.Gather(context.Background(), ev); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
