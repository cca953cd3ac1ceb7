package githubevents

import (
	"fmt"
	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"strings"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// The deliveries below are decoded narrowly: only the fields the
// gatekeeper reads, under go-github's own JSON names and types (its
// Timestamp among them), into small structs of values. Decoding a 28 KB
// pull_request delivery into go-github's PullRequestEvent allocates a
// pointer for every one of its hundreds of fields, and was a third of the
// acknowledgement path; what is built from the narrow decode is the same
// domain event (TestNarrowParseMatchesGoGitHub, FuzzNarrowParse).

// user is a GitHub account as payloads name it.
type user struct {
	Login string `json:"login"`
}

// repository is the part of a payload's repository the gatekeeper reads.
type repository struct {
	ID    int64  `json:"id"`
	Name  string `json:"name"`
	Owner *user  `json:"owner"`
}

// domainRepo is repo (parse.go) on the narrow type.
func (r *repository) domainRepo() *gatekeeper.Repo {
	if r == nil {
		return nil
	}
	out := &gatekeeper.Repo{ID: r.ID, Owner: r.owner(), Name: r.Name}
	if out.ID == 0 && (out.Owner == "" || out.Name == "") {
		return nil
	}
	return out
}

func (r *repository) owner() string {
	if r == nil || r.Owner == nil {
		return ""
	}
	return r.Owner.Login
}

func (u *user) login() string {
	if u == nil {
		return ""
	}
	return u.Login
}

// branch is a pull request's head or base.
type branch struct {
	Ref  string      `json:"ref"`
	SHA  string      `json:"sha"`
	Repo *repository `json:"repo"`
}

// pullPayload is the part of a pull request the gatekeeper reads.
type pullPayload struct {
	Number int    `json:"number"`
	Title  string `json:"title"`
	Body   string `json:"body"`
	User   *user  `json:"user"`
	// AuthorAssociation is GitHub's author_association of the pull
	// request itself (a stranger's pull request at a shared head).
	AuthorAssociation string            `json:"author_association"`
	State             string            `json:"state"`
	Draft             bool              `json:"draft"`
	Merged            bool              `json:"merged"`
	Head              *branch           `json:"head"`
	Base              *branch           `json:"base"`
	Labels            []*labelPayload   `json:"labels"`
	HTMLURL           string            `json:"html_url"`
	UpdatedAt         *github.Timestamp `json:"updated_at"`
}

type labelPayload struct {
	Name string `json:"name"`
}

// snapshot is PullRequest (convert.go) on the narrow type, field for field
// (TestNarrowParseMatchesGoGitHub fails when one is missing): the key's owner
// and name come from repo, or from the base repository when repo is nil.
func (pr *pullPayload) snapshot(repo *repository) gatekeeper.PullRequest {
	if repo == nil && pr.Base != nil {
		repo = pr.Base.Repo
	}
	var labels []string
	for _, l := range pr.Labels {
		if l != nil && l.Name != "" {
			labels = append(labels, l.Name)
		}
	}
	out := gatekeeper.PullRequest{
		Title:             pr.Title,
		Body:              pr.Body,
		Author:            pr.User.login(),
		AuthorAssociation: pr.AuthorAssociation,
		State:             pr.State,
		Draft:             pr.Draft,
		Merged:            pr.Merged,
		Labels:            labels,
		HTMLURL:           pr.HTMLURL,
		UpdatedAt:         utcp(pr.UpdatedAt),
	}
	if repo != nil {
		out.Key = gatekeeper.PullKey{Owner: repo.owner(), Repo: repo.Name, Number: pr.Number}
		out.RepoID = repo.ID
	} else {
		out.Key = gatekeeper.PullKey{Number: pr.Number}
	}
	if h := pr.Head; h != nil {
		out.HeadRef, out.HeadSHA = h.Ref, h.SHA
		if h.Repo != nil {
			// A fork's head names the fork; a deleted fork names none (0).
			out.HeadRepoID = h.Repo.ID
		}
	}
	if b := pr.Base; b != nil {
		out.BaseRef, out.BaseSHA = b.Ref, b.SHA
	}
	return out
}

// utcp is utc for an optional time.
func utcp(t *github.Timestamp) (out time.Time) {
	if t == nil {
		return out
	}
	return utc(*t)
}

func pullRequestNarrow(payload []byte) (gatekeeper.Event, error) {
	var p struct {
		Action      string        `json:"action"`
		PullRequest *pullPayload  `json:"pull_request"`
		Repository  *repository   `json:"repository"`
		Label       *labelPayload `json:"label"`
	}
	if err := decode(payload, &p); err != nil {
		return gatekeeper.Event{}, fmt.Errorf("decoding pull_request payload: %w: %w", gatekeeper.ErrInvalid, err)
	}
	name := "pull_request." + p.Action
	if !used("pull_request", p.Action) {
		return gatekeeper.Event{}, fmt.Errorf("%s: %w", name, ErrIgnored)
	}
	if p.PullRequest == nil {
		return gatekeeper.Event{}, fmt.Errorf("%s: no pull_request object: %w", name, gatekeeper.ErrInvalid)
	}
	pr := p.PullRequest.snapshot(p.Repository)
	if err := checkPull(name, pr); err != nil {
		return gatekeeper.Event{}, err
	}
	// GitHub sends no time of the event itself; labelling is what updated
	// the pull request, so its updated_at is when the label was added.
	if p.Label != nil && p.Action == "labeled" && p.Label.Name != "" && !pr.UpdatedAt.IsZero() {
		pr.LabeledAt = map[string]time.Time{p.Label.Name: pr.UpdatedAt}
	}
	return gatekeeper.Event{Name: name, Key: pr.Key, SHA: pr.HeadSHA, PullRequest: &pr}, nil
}

func reviewNarrow(payload []byte) (gatekeeper.Event, error) {
	var p struct {
		Action      string       `json:"action"`
		PullRequest *pullPayload `json:"pull_request"`
		Repository  *repository  `json:"repository"`
		Review      *struct {
			ID                int64             `json:"id"`
			User              *user             `json:"user"`
			State             string            `json:"state"`
			CommitID          string            `json:"commit_id"`
			SubmittedAt       *github.Timestamp `json:"submitted_at"`
			AuthorAssociation string            `json:"author_association"`
		} `json:"review"`
	}
	if err := decode(payload, &p); err != nil {
		return gatekeeper.Event{}, fmt.Errorf("decoding pull_request_review payload: %w: %w", gatekeeper.ErrInvalid, err)
	}
	name := "pull_request_review." + p.Action
	if !used("pull_request_review", p.Action) {
		return gatekeeper.Event{}, fmt.Errorf("%s: %w", name, ErrIgnored)
	}
	if p.PullRequest == nil || p.Review == nil {
		return gatekeeper.Event{}, fmt.Errorf("%s: no pull_request or review object: %w", name, gatekeeper.ErrInvalid)
	}
	pr := p.PullRequest.snapshot(p.Repository)
	if err := checkPull(name, pr); err != nil {
		return gatekeeper.Event{}, err
	}
	r := gatekeeper.Review{
		ID:                p.Review.ID,
		User:              p.Review.User.login(),
		State:             gatekeeper.NormalizeReviewState(p.Review.State),
		CommitID:          p.Review.CommitID,
		SubmittedAt:       utcp(p.Review.SubmittedAt),
		AuthorAssociation: p.Review.AuthorAssociation,
	}
	if p.Action == "dismissed" {
		// The payload says "dismissed" too, but the action is the fact.
		r.State = "DISMISSED"
	}
	if r.ID == 0 || r.User == "" || r.State == "" {
		return gatekeeper.Event{}, fmt.Errorf("%s: review without id, user or state: %w", name, gatekeeper.ErrInvalid)
	}
	// The log line names the commit reviewed, which can be older than the
	// head: that is what makes an approval stale.
	sha := r.CommitID
	if sha == "" {
		sha = pr.HeadSHA
	}
	return gatekeeper.Event{Name: name, Key: pr.Key, SHA: sha, PullRequest: &pr, Review: &r}, nil
}

func commentNarrow(payload []byte) (gatekeeper.Event, error) {
	var p struct {
		Action string `json:"action"`
		Issue  *struct {
			Number int `json:"number"`
			// A pull request's conversation is an issue with these links.
			PullRequest *struct{} `json:"pull_request"`
		} `json:"issue"`
		Comment *struct {
			ID        int64             `json:"id"`
			User      *user             `json:"user"`
			Body      string            `json:"body"`
			CreatedAt *github.Timestamp `json:"created_at"`
			UpdatedAt *github.Timestamp `json:"updated_at"`
		} `json:"comment"`
		Repository *repository `json:"repository"`
		Sender     *user       `json:"sender"`
	}
	if err := decode(payload, &p); err != nil {
		return gatekeeper.Event{}, fmt.Errorf("decoding issue_comment payload: %w: %w", gatekeeper.ErrInvalid, err)
	}
	name := "issue_comment." + p.Action
	if !used("issue_comment", p.Action) {
		return gatekeeper.Event{}, fmt.Errorf("%s: %w", name, ErrIgnored)
	}
	if p.Issue == nil || p.Comment == nil {
		return gatekeeper.Event{}, fmt.Errorf("%s: no issue or comment object: %w", name, gatekeeper.ErrInvalid)
	}
	if p.Issue.PullRequest == nil {
		return gatekeeper.Event{}, fmt.Errorf("%s on a plain issue: %w", name, ErrIgnored)
	}
	var key gatekeeper.PullKey
	if p.Repository != nil {
		key = gatekeeper.PullKey{Owner: p.Repository.owner(), Repo: p.Repository.Name}
	}
	key.Number = p.Issue.Number
	if !key.Valid() {
		return gatekeeper.Event{}, fmt.Errorf("%s: invalid pull request %q: %w", name, key, gatekeeper.ErrInvalid)
	}
	c := gatekeeper.Comment{
		ID:        p.Comment.ID,
		User:      p.Comment.User.login(),
		Body:      p.Comment.Body,
		CreatedAt: utcp(p.Comment.CreatedAt),
		UpdatedAt: utcp(p.Comment.UpdatedAt),
	}
	if c.ID == 0 {
		return gatekeeper.Event{}, fmt.Errorf("%s: comment without id: %w", name, gatekeeper.ErrInvalid)
	}
	c.Deleted = p.Action == "deleted"
	if p.Action == "edited" || p.Action == "deleted" {
		// Whoever edited or deleted it: not always the author, and only
		// the author may change their vote.
		c.EditedBy = p.Sender.login()
	}
	// The payload names no commit: which head the comment was made on is
	// left to the Service, by the comment's time.
	return gatekeeper.Event{Name: name, Key: key, Comment: &c}, nil
}

func statusNarrow(payload []byte) (gatekeeper.Event, error) {
	const name = "status"
	var p struct {
		SHA         string            `json:"sha"`
		Context     string            `json:"context"`
		State       string            `json:"state"`
		Description string            `json:"description"`
		TargetURL   string            `json:"target_url"`
		CreatedAt   *github.Timestamp `json:"created_at"`
		UpdatedAt   *github.Timestamp `json:"updated_at"`
		Sender      *user             `json:"sender"`
		Repository  *repository       `json:"repository"`
	}
	if err := decode(payload, &p); err != nil {
		return gatekeeper.Event{}, fmt.Errorf("decoding status payload: %w: %w", gatekeeper.ErrInvalid, err)
	}
	if p.SHA == "" || p.Context == "" {
		return gatekeeper.Event{}, fmt.Errorf("%s: no sha or context: %w", name, gatekeeper.ErrInvalid)
	}
	state := strings.ToLower(p.State)
	if !gatekeeper.State(state).Valid() {
		return gatekeeper.Event{}, fmt.Errorf("%s: unknown state %q: %w", name, p.State, gatekeeper.ErrInvalid)
	}
	updated := utcp(p.UpdatedAt)
	if updated.IsZero() {
		updated = utcp(p.CreatedAt)
	}
	c := gatekeeper.Check{
		Name:        p.Context,
		SHA:         p.SHA,
		Kind:        "status",
		State:       state,
		Description: p.Description,
		URL:         p.TargetURL,
		UpdatedAt:   updated,
		// The payload has no creator; the sender is who posted it.
		Creator: p.Sender.login(),
	}
	r := p.Repository.domainRepo()
	if r == nil {
		return gatekeeper.Event{}, fmt.Errorf("%s: no repository: %w", name, gatekeeper.ErrInvalid)
	}
	return gatekeeper.Event{Name: name, SHA: p.SHA, Check: &c, Repo: r}, nil
}

// decode is encoding/json's Unmarshal, semantics included (field names
// matched without regard to case, the last of duplicate names wins,
// invalid UTF-8 replaced), in one pass over the payload.
func decode(payload []byte, v any) error {
	return jsonv2.Unmarshal(payload, v, jsonv2.MatchCaseInsensitiveNames(true), jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))
}
