package githubevents_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/releasegate/gatekeeper/gatekeeper"
	"github.com/releasegate/gatekeeper/gatekeeper/githubevents"
)

// TestParsePush: a push to a branch is that branch's new tip, at GitHub's
// push time, in the repository the payload names; a tag push or a branch
// deletion is not used.
func TestParsePush(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		file    string
		want    gatekeeper.Event
		ignored bool
	}{
		{
			name: "octokit push to master",
			file: "public/octokit-webhooks/push/with-new-branch.payload.json",
			want: gatekeeper.Event{Delivery: "d-1", Name: "push", SHA: "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
				Repo: &gatekeeper.Repo{ID: 186853002, Owner: "Codertocat", Name: "Hello-World"},
				BaseTip: &gatekeeper.BaseTip{Ref: "master", SHA: "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
					At: time.Unix(1557933657, 0).UTC(), Source: "push"}},
		},
		{
			name: "drone push to master",
			file: "public/drone-go-scm/push/push.json",
			want: gatekeeper.Event{Delivery: "d-1", Name: "push", SHA: "199eddf46df50de8d02e99bf1c5fdb4101338224",
				Repo: &gatekeeper.Repo{ID: 135493233, Owner: "Codertocat", Name: "Hello-World"},
				BaseTip: &gatekeeper.BaseTip{Ref: "master", SHA: "199eddf46df50de8d02e99bf1c5fdb4101338224",
					At: time.Unix(1527711528, 0).UTC(), Source: "push", Before: "a10867b14bb761a232cd80139fbd4c0d33264240"}},
		},
		{name: "tag deleted", file: "public/octokit-webhooks/push/payload.json", ignored: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, payload := fixture(t, tt.file)
			got, err := githubevents.Parse("push", "d-1", payload)
			if tt.ignored {
				if !errors.Is(err, githubevents.ErrIgnored) {
					t.Fatalf("Parse = %+v, %v; want ErrIgnored", got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Parse mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestParsePushErrors: a push the gatekeeper would use but cannot place
// is malformed; one it would not use never is.
func TestParsePushErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		payload string
		want    error
	}{
		{"not json", `{`, gatekeeper.ErrInvalid},
		{"after not a sha", `{"ref":"refs/heads/master","after":"nope","repository":{"id":1,"name":"r","owner":{"login":"o"}}}`, gatekeeper.ErrInvalid},
		{"no repository", `{"ref":"refs/heads/master","after":"6113728f27ae82c7b1a177c8d03f9e96e0adf246"}`, gatekeeper.ErrInvalid},
		{"tag", `{"ref":"refs/tags/v1","after":"6113728f27ae82c7b1a177c8d03f9e96e0adf246"}`, githubevents.ErrIgnored},
		{"deleted branch", `{"ref":"refs/heads/master","after":"0000000000000000000000000000000000000000","deleted":true}`, githubevents.ErrIgnored},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := githubevents.Parse("push", "d-1", []byte(tt.payload))
			if !errors.Is(err, tt.want) {
				t.Errorf("Parse: %v, want %v", err, tt.want)
			}
		})
	}
}

// TestParseCheckRunOlderAppTime: GitHub's older check_run payloads write
// check_run.app.created_at as "2018-04-25 20:42:10", which go-github cannot
// parse; the gatekeeper never reads it, and the delivery is used.
func TestParseCheckRunOlderAppTime(t *testing.T) {
	t.Parallel()
	_, payload := fixture(t, "public/octokit-webhooks/check_run/rerequested.payload.json")
	got, err := githubevents.Parse("check_run", "d-1", payload)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if got.Name != "check_run.rerequested" || got.Check == nil || got.Check.SHA == "" || got.Repo == nil || got.Repo.ID == 0 {
		t.Errorf("Parse = %+v, want a rerequested check run with its repository", got)
	}
	bad := []byte(`{"action":"completed","check_run":{"name":"ci","head_sha":"6113728f27ae82c7b1a177c8d03f9e96e0adf246","status":"completed","conclusion":"success","completed_at":"yesterday"},"repository":{"id":1,"name":"r","owner":{"login":"o"}}}`)
	if _, err := githubevents.Parse("check_run", "d-1", bad); !errors.Is(err, gatekeeper.ErrInvalid) {
		t.Errorf("a completed_at the gatekeeper reads and cannot parse: %v, want ErrInvalid", err)
	}
}
