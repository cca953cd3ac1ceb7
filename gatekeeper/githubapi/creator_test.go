package githubapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// recordedListStatuses returns the recorded GET …/commits/{sha}/statuses
// exchange of the create-status fixture: every status, newest first, each
// with its creator.
func recordedListStatuses(t testing.TB) exchange {
	t.Helper()
	for _, ex := range loadExchanges(t, createStatusFixture) {
		if ex.Method == "get" && strings.HasSuffix(ex.Path, "/statuses") {
			return ex
		}
	}
	t.Fatalf("%s has no list of statuses", createStatusFixture)
	return exchange{}
}

func listStatusesPath(sha string) string {
	return "/repos/Codertocat/Hello-World/commits/" + sha + "/statuses"
}

// TestPublisherLearnsItsLogin: the creator GitHub names in the answer to
// POST …/statuses/{sha} is the login the gatekeeper's statuses carry, by
// which it later knows its own statuses from anybody else's.
func TestPublisherLearnsItsLogin(t *testing.T) {
	t.Parallel()
	var post exchange
	for _, ex := range loadExchanges(t, createStatusFixture) {
		if ex.Method == "post" {
			post = ex
			break
		}
	}
	key, sha, st, route := recordedStatus(t, post)
	gh := newFakeGitHub(t, "")
	gh.on(route, post.reply())
	p := NewPublisher(newTestClient(t, gh.URL, newFakeTime(), nil, testRetry()))
	if got := p.Login(); got != "" {
		t.Errorf("Login before any post = %q, want \"\"", got)
	}
	if err := p.Publish(context.Background(), key, sha, st); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	if got, want := p.Login(), "octokit-fixture-user-a"; got != want {
		t.Errorf("Login after a post = %q, want %q (the recorded creator)", got, want)
	}
	if got := NewDryRun(nil).Login(); got != "" {
		t.Errorf("dry run Login = %q, want \"\"", got)
	}
}

// TestGatherNamesWhoPostedTheGatekeepersContext: the combined status does
// not say who posted a status. The Source reads the list of statuses
// (newest first) and names, for every context, who posted its newest
// status and who posted it first: for the gatekeeper's own context, to
// tell its own from anybody else's; for the others, so that a status set
// by hand over another system's never replaces that system's verdict.
func TestGatherNamesWhoPostedTheGatekeepersContext(t *testing.T) {
	t.Parallel()
	// handSet is the recorded list with, newest, dev-mallory's success
	// in example/1, over octokit-fixture-user-a's failure.
	var recorded []map[string]any
	if err := json.Unmarshal(recordedListStatuses(t).Response, &recorded); err != nil {
		t.Fatal(err)
	}
	var handSet []map[string]any
	for _, st := range recorded {
		if st["context"] == "example/1" {
			mallory := map[string]any{}
			for k, v := range st {
				mallory[k] = v
			}
			mallory["state"], mallory["description"], mallory["updated_at"] = "success", "fine", "2017-10-10T17:00:00Z"
			mallory["creator"] = map[string]any{"login": "dev-mallory", "id": 99, "type": "User"}
			handSet = append(handSet, mallory)
		}
	}
	handSet = append(handSet, recorded...)
	handSetBody, err := json.Marshal(handSet)
	if err != nil {
		t.Fatal(err)
	}
	takenOver := recordedStatusChecks(helloHead)
	takenOver[0].Creator, takenOver[0].State, takenOver[0].Description = "dev-mallory", "success", "fine"
	takenOver[0].UpdatedAt = time.Date(2017, 10, 10, 17, 0, 0, 0, time.UTC)
	takenOver[0].Original = &gatekeeper.CheckReport{Creator: "octokit-fixture-user-a", State: "failure", Description: "create-status failure test", URL: "https://example.com", UpdatedAt: time.Date(2017, 10, 10, 16, 0, 0, 0, time.UTC)}
	takenOver[0].OtherCreators = []string{"dev-mallory"}
	handSetReply := jsonReply(http.StatusOK, string(handSetBody))

	tests := []struct {
		name      string
		context   string
		listReply *reply
		want      []gatekeeper.Check
		wantCalls []string
		wantErr   bool
	}{
		{
			name:      "own context: creator from the list",
			context:   "example/1",
			want:      recordedStatusChecks(helloHead),
			wantCalls: []string{"get_combined_status 200", "list_statuses 200", "list_check_runs 200"},
		},
		{
			name:      "own context not on the commit: the others' creators",
			context:   "release-gate",
			want:      recordedStatusChecks(helloHead),
			wantCalls: []string{"get_combined_status 200", "list_statuses 200", "list_check_runs 200"},
		},
		{
			name:      "a status set by hand over another creator's: the first creator and its verdict",
			context:   "release-gate",
			listReply: &handSetReply,
			want:      takenOver,
			wantCalls: []string{"get_combined_status 200", "list_statuses 200", "list_check_runs 200"},
		},
		{
			name:      "the list fails: the source fails",
			context:   "example/2",
			listReply: &reply{status: http.StatusNotFound, header: http.Header{"Content-Type": {"application/json"}}, body: []byte(`{"message":"Not Found"}`)},
			want:      withCreator(withCreator(recordedStatusChecks(helloHead), "example/1", ""), "example/2", ""),
			wantCalls: []string{"get_combined_status 200", "list_statuses 404", "list_check_runs 200"},
			wantErr:   true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			gh := newFakeGitHub(t, "")
			serveChecks(t, gh, helloHead)
			list := recordedListStatuses(t).reply()
			if tt.listReply != nil {
				list = *tt.listReply
			}
			gh.on("GET "+listStatusesPath(helloHead), list)
			obs := &observed{}
			s := NewSource(newTestClient(t, gh.URL, newFakeTime(), obs, testRetry()), SourceOptions{StatusContext: tt.context})
			events, err := s.Gather(context.Background(), freshPull())
			if (err != nil) != tt.wantErr {
				t.Fatalf("Gather error = %v, want error %v", err, tt.wantErr)
			}
			var got []gatekeeper.Check
			for _, e := range events {
				if e.Name == EventStatus {
					got = append(got, *e.Check)
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("statuses (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantCalls, obs.list()); diff != "" {
				t.Errorf("calls (-want +got):\n%s", diff)
			}
			if tt.wantErr && errors.Is(err, gatekeeper.ErrInvalid) {
				t.Errorf("a 404 listing statuses is not invalid input: %v", err)
			}
		})
	}
}

// withCreator returns checks with the creator (and first creator) of the
// one named set.
func withCreator(checks []gatekeeper.Check, name, creator string) []gatekeeper.Check {
	out := append([]gatekeeper.Check(nil), checks...)
	for i := range out {
		if out[i].Name == name {
			out[i].Creator, out[i].FirstCreator = creator, creator
		}
	}
	return out
}
