package githubapi

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-github/v60/github"

	"github.com/releasegate/gatekeeper/gatekeeper"
	"github.com/releasegate/gatekeeper/gatekeeper/githubevents"
)

// The domain values of the fixtures, written out field by field from the
// JSON files under test/testdata/fixtures/github.
var (
	// fixturePR is pull_request.opened.json's "pull_request".
	fixturePR = gatekeeper.PullRequest{
		Key:               gatekeeper.PullKey{Owner: "Codertocat", Repo: "Hello-World", Number: 2},
		RepoID:            186853002,
		Title:             "Update the README with new information.",
		Body:              "This is a pretty simple change that we need to pull into master.",
		Author:            "Codertocat",
		AuthorAssociation: "OWNER",
		State:             "open",
		Draft:             false,
		Merged:            false,
		HeadRef:           "changes",
		HeadSHA:           "ec26c3e57ca3a959ca5aad62de7213c562f8c821",
		BaseRef:           "master",
		BaseSHA:           "f95f852bd8fca8fcc58a9a2d6c842781e32a215e",
		Labels:            []string{"bug"},
		HTMLURL:           "https://github.com/Codertocat/Hello-World/pull/2",
		UpdatedAt:         time.Date(2019, 5, 15, 15, 20, 33, 0, time.UTC),
		// The head branch is the repository's own.
		HeadRepoID: 186853002,
	}
	// fixtureRESTReview is rest/pulls.reviews.list.approved.json's review.
	fixtureRESTReview = gatekeeper.Review{
		ID:                208194465,
		User:              "erwinmombay",
		State:             "APPROVED",
		CommitID:          "9272f18514cbd3fa935b3ced62ae1c2bf6efa76d",
		SubmittedAt:       time.Date(2019, 2, 26, 20, 39, 13, 0, time.UTC),
		AuthorAssociation: "OWNER",
	}
	// fixtureWebhookReview is pull_request_review.submitted.approved.json's
	// "review": the same reviewer approving the same commit 14 minutes
	// later, with the webhook's lower-case state.
	fixtureWebhookReview = gatekeeper.Review{
		ID:                208201048,
		User:              "erwinmombay",
		State:             "APPROVED",
		CommitID:          "9272f18514cbd3fa935b3ced62ae1c2bf6efa76d",
		SubmittedAt:       time.Date(2019, 2, 26, 20, 53, 31, 0, time.UTC),
		AuthorAssociation: "OWNER",
	}
)

// The conversions are githubevents'; its tests check them on webhook
// payloads. These check what only the Source relies on: a REST answer, with
// no repository of the event's to key it (the key and the repository id
// come from base.repo), the REST review spelling, and a review whose commit
// was garbage-collected.

func TestPullRequestConversionOfRESTAnswers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		raw  []byte // JSON of a github.PullRequest
		want gatekeeper.PullRequest
	}{
		{
			// GET pulls/{n} answers with the webhook's pull_request schema.
			name: "keyed by the base repository",
			raw:  fixtureField(t, "pull_request.opened.json", "pull_request"),
			want: fixturePR,
		},
		{
			name: "without base repository, labels or times",
			raw:  []byte(`{"number":7,"state":"closed","merged":true,"head":{"ref":"staging","sha":"abc"},"base":{"ref":"master"}}`),
			want: gatekeeper.PullRequest{Key: gatekeeper.PullKey{Number: 7}, State: "closed", Merged: true, HeadRef: "staging", HeadSHA: "abc", BaseRef: "master"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pr := new(github.PullRequest)
			if err := json.Unmarshal(tt.raw, pr); err != nil {
				t.Fatalf("decoding: %v", err)
			}
			if diff := cmp.Diff(tt.want, githubevents.PullRequest(pr, nil)); diff != "" {
				t.Errorf("githubevents.PullRequest(pr, nil) (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReviewConversionOfRESTAnswers(t *testing.T) {
	t.Parallel()
	rest := readFixture(t, "rest/pulls.reviews.list.approved.json")
	var list []json.RawMessage
	if err := json.Unmarshal(rest, &list); err != nil || len(list) != 1 {
		t.Fatalf("decoding the REST review list: %d reviews, %v", len(list), err)
	}
	tests := []struct {
		name string
		raw  []byte
		want gatekeeper.Review
	}{
		{name: "REST list entry keeps APPROVED", raw: list[0], want: fixtureRESTReview},
		{name: "garbage-collected commit", raw: []byte(`{"id":1,"user":{"login":"qa"},"state":"APPROVED","commit_id":null}`), want: gatekeeper.Review{ID: 1, User: "qa", State: "APPROVED"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := new(github.PullRequestReview)
			if err := json.Unmarshal(tt.raw, r); err != nil {
				t.Fatalf("decoding: %v", err)
			}
			if diff := cmp.Diff(tt.want, githubevents.Review(r)); diff != "" {
				t.Errorf("githubevents.Review (-want +got):\n%s", diff)
			}
		})
	}
}
