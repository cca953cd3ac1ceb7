package githubapi

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// pullJSON is a pull request as GitHub lists it, reduced to the fields
// read.
func pullJSON(n int, state, head string) string {
	return `{"number":` + strconv.Itoa(n) + `,"state":"` + state + `","head":{"ref":"staging","sha":"` + head + `"},"base":{"ref":"master"}}`
}

// TestOpenPullsFollowsPages: the open pull requests into the base are
// listed page by page (GitHub's Link header), each with its key.
func TestOpenPullsFollowsPages(t *testing.T) {
	t.Parallel()
	gh := newFakeGitHub(t, "")
	next := `<` + gh.URL + `repos/Codertocat/Hello-World/pulls?base=master&page=2&per_page=100&state=open>; rel="next"`
	gh.on("GET /repos/Codertocat/Hello-World/pulls", jsonReply(http.StatusOK, `[`+pullJSON(2, "open", "a")+`,`+pullJSON(5, "open", "b")+`]`, "Link", next))
	gh.on("GET /repos/Codertocat/Hello-World/pulls?page=2", jsonReply(http.StatusOK, `[`+pullJSON(11, "open", "c")+`]`))
	c := newTestClient(t, gh.URL, newFakeTime(), &observed{}, testRetry())
	got, err := c.OpenPulls(context.Background(), "Codertocat", "Hello-World", "master")
	if err != nil {
		t.Fatal(err)
	}
	want := []gatekeeper.PullKey{{Owner: "Codertocat", Repo: "Hello-World", Number: 2}, {Owner: "Codertocat", Repo: "Hello-World", Number: 5}, {Owner: "Codertocat", Repo: "Hello-World", Number: 11}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("OpenPulls (-want +got):\n%s", diff)
	}
	for _, r := range gh.served() {
		if r.Path == "/repos/Codertocat/Hello-World/pulls" && !(strings.Contains(r.Query, "state=open") && strings.Contains(r.Query, "base=master")) {
			t.Errorf("listing asked %q, want state=open and base=master", r.Query)
		}
	}
}

// TestPullsWithHead: of the pull requests GitHub lists for a commit (every
// one that contains it), only the open ones whose head it is are kept.
func TestPullsWithHead(t *testing.T) {
	t.Parallel()
	const sha = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
	gh := newFakeGitHub(t, "")
	gh.on("GET /repos/Codertocat/Hello-World/commits/"+sha+"/pulls", jsonReply(http.StatusOK,
		`[`+pullJSON(2, "open", sha)+`,`+pullJSON(3, "closed", sha)+`,`+pullJSON(4, "open", "0000000000000000000000000000000000000000")+`]`))
	c := newTestClient(t, gh.URL, newFakeTime(), &observed{}, testRetry())
	got, err := c.PullsWithHead(context.Background(), "Codertocat", "Hello-World", sha)
	if err != nil {
		t.Fatal(err)
	}
	want := []gatekeeper.PullKey{{Owner: "Codertocat", Repo: "Hello-World", Number: 2}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("PullsWithHead (-want +got):\n%s", diff)
	}
	gh.on("GET /repos/Codertocat/Hello-World/commits/"+sha+"/pulls", jsonReply(http.StatusInternalServerError, `{"message":"boom"}`))
	if _, err := c.PullsWithHead(context.Background(), "Codertocat", "Hello-World", sha); err == nil {
		t.Error("a failing GitHub gave no error")
	}
}
