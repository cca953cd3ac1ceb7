package storetest

import (
	"fmt"
	"strings"
	"time"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// ReleaseEvents are the events of a busy release pull request: three head
// pushes, six reviews, forty comments, thirty checks per head and enough
// events to fill the evidence log. Its evidence is about the size a real
// release pull request reaches by the end of the day. The stores'
// benchmarks share it, so that their figures compare.
func ReleaseEvents(key gatekeeper.PullKey, start time.Time) []gatekeeper.Event {
	var out []gatekeeper.Event
	at := start
	next := func() time.Time { at = at.Add(time.Second); return at }
	for h := range 3 {
		sha := fmt.Sprintf("%040x", h+1)
		out = append(out, gatekeeper.Event{
			Name: "pull_request.synchronize", Received: next(), Key: key, SHA: sha,
			PullRequest: &gatekeeper.PullRequest{
				Key: key, RepoID: 123456, Title: "Release 2026-03-02",
				Body:   strings.Repeat("- change\n", 60),
				Author: "release-bot", State: "open", HeadRef: "staging", HeadSHA: sha,
				BaseRef: "master", BaseSHA: fmt.Sprintf("%040x", 99),
				Labels: []string{"release", "alpha"}, HTMLURL: "https://github.com/acme/shop/pull/1",
				UpdatedAt: at,
			},
		})
		for c := range 30 {
			out = append(out, gatekeeper.Event{
				Name: "status", Received: next(), Key: key, SHA: sha,
				Check: &gatekeeper.Check{
					Name: fmt.Sprintf("ci/jenkins/stage-%02d", c), SHA: sha, Kind: "status",
					State: "success", Description: "Build #1234 succeeded in 4m 12s",
					URL: "https://jenkins.example/job/shop/1234/", UpdatedAt: at,
				},
			})
		}
	}
	for r := range 6 {
		out = append(out, gatekeeper.Event{
			Name: "pull_request_review.submitted", Received: next(), Key: key,
			Review: &gatekeeper.Review{
				ID: int64(r + 1), User: fmt.Sprintf("manager%d", r), State: "approved",
				CommitID: fmt.Sprintf("%040x", 3), SubmittedAt: at, AuthorAssociation: "MEMBER",
			},
		})
	}
	for c := range 40 {
		out = append(out, gatekeeper.Event{
			Name: "issue_comment.created", Received: next(), Key: key,
			Comment: &gatekeeper.Comment{
				ID: int64(c + 1), User: "qa", Body: strings.Repeat("looks good on beta. ", 15),
				CreatedAt: at, UpdatedAt: at,
			},
		})
	}
	for len(out) < 220 {
		out = append(out, gatekeeper.Event{Name: "check_run.completed", Received: next(), Key: key, SHA: fmt.Sprintf("%040x", 3)})
	}
	return out
}
