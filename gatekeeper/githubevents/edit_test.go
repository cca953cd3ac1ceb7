package githubevents_test

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/releasegate/gatekeeper/gatekeeper/githubevents"
)

// TestCommentEditRecordsWhoEdited: the recorded comment, edited and deleted
// by its author and by someone else (variants derived from the fixture):
// the event says who changed it, so that only the author can change a vote.
func TestCommentEditRecordsWhoEdited(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("../../test/testdata/fixtures/github/issue_comment.created.json")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		action, sender, wantEditedBy string
		wantDeleted                  bool
	}{
		{"created", "lts-def", "", false},
		{"edited", "lts-def", "lts-def", false},
		{"edited", "someone-else", "someone-else", false},
		{"deleted", "someone-else", "someone-else", true},
	}
	for _, tc := range tests {
		t.Run(tc.action+" by "+tc.sender, func(t *testing.T) {
			t.Parallel()
			var payload map[string]any
			if err := json.Unmarshal(raw, &payload); err != nil {
				t.Fatal(err)
			}
			payload["action"] = tc.action
			payload["sender"].(map[string]any)["login"] = tc.sender
			body, _ := json.Marshal(payload)
			e, err := githubevents.Parse("issue_comment", "d-1", body)
			if err != nil {
				t.Fatal(err)
			}
			if e.Comment.EditedBy != tc.wantEditedBy || e.Comment.Deleted != tc.wantDeleted || e.Comment.User != "lts-def" {
				t.Errorf("comment %+v: want author lts-def, edited by %q, deleted %v", e.Comment, tc.wantEditedBy, tc.wantDeleted)
			}
		})
	}
}
