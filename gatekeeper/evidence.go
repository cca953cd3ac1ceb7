package gatekeeper

import (
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Evidence is everything the gatekeeper knows about one pull request. It is
// the fold of every Event recorded for the pull request, in the order the
// Store accepted them. Facts about older head commits stay here for the
// record; BuildInput decides what counts for the current head.
type Evidence struct {
	Key PullKey `json:"key"`
	// PR is the newest snapshot of the pull request, nil until a webhook or
	// the GitHub source supplied one.
	PR *PullRequest `json:"pull_request,omitempty"`
	// Heads lists every head sha the pull request has had, oldest first.
	Heads    []HeadChange `json:"heads,omitempty"`
	Reviews  []Review     `json:"reviews,omitempty"`
	Comments []Comment    `json:"comments,omitempty"`
	Checks   []Check      `json:"checks,omitempty"`
	// Builds are the Jenkins builds of this pull request, every head's.
	Builds []Build `json:"builds,omitempty"`
	// Baseline is the latest successful build of the base branch, for
	// coverage and test-count comparisons.
	Baseline *Build `json:"baseline,omitempty"`
	// Memberships are GitHub team memberships checked for the people who
	// reviewed or voted, keyed by Membership.Key.
	Memberships map[string]Membership `json:"memberships,omitempty"`
	// MergedPulls are the pull requests merged into the head branch since
	// the base branch, as of MergedPullsAt.
	MergedPulls   []MergedPull `json:"merged_pulls,omitempty"`
	MergedPullsAt time.Time    `json:"merged_pulls_at"`
	// IssueChecks are the ZenHub verifications of linked issues, keyed by
	// IssueRef.String().
	IssueChecks map[string]IssueCheck `json:"issue_checks,omitempty"`
	// Answered records, per vote comment, the verdict the gatekeeper last
	// answered with, so that each verdict is answered once.
	Answered map[int64]string `json:"answered,omitempty"`
	// Refusals records, per person, why the gatekeeper last told them a
	// command was refused: the same refusal is told once, however often
	// the person repeats the command.
	Refusals map[string]string `json:"refusals,omitempty"`
	// CommentsCursor is how far the GitHub source has read the comments
	// list, so that each read asks only for what changed since.
	CommentsCursor *CommentsCursor `json:"comments_cursor,omitempty"`
	// Sources records, per evidence source, the outcome of its last Gather.
	Sources map[string]SourceStatus `json:"sources,omitempty"`
	// Published is the last commit status sent (or, in a dry run, logged).
	Published *PublishedStatus `json:"published,omitempty"`
	// Posting is the status about to be sent, recorded before the post
	// (an outbox): when it is still here, the post's outcome was never
	// recorded (the store failed after it, or the process died), and
	// GitHub is asked whether it landed before it is posted again.
	Posting *PublishedStatus `json:"posting,omitempty"`
	// BaseTip is the newest known tip of a base branch of the pull
	// request's repository (a push webhook, or GitHub read while
	// reconciling). It counts only while its Ref is the pull request's
	// base: a PR-merge build counts only when it merged that tip.
	BaseTip *BaseTip `json:"base_tip,omitempty"`
	// SlackVotes are the votes cast in Slack, each until its echo comment
	// is posted and then for the record (see SlackVote).
	SlackVotes []SlackVote `json:"slack_votes,omitempty"`
	// Log is a bounded trail of the events folded into this evidence.
	Log []LogEntry `json:"log,omitempty"`
	// Version increases with every change the Store writes.
	Version uint64 `json:"version"`
}

// HeadChange records that the pull request's head moved to SHA.
type HeadChange struct {
	SHA string    `json:"sha"`
	At  time.Time `json:"at"`
}

// Review is one pull request review. State uses the REST API's upper-case
// spelling (APPROVED, CHANGES_REQUESTED, COMMENTED, DISMISSED, PENDING);
// webhook states are normalised with NormalizeReviewState.
type Review struct {
	ID                int64     `json:"id"`
	User              string    `json:"user"`
	State             string    `json:"state"`
	CommitID          string    `json:"commit_id"`
	SubmittedAt       time.Time `json:"submitted_at"`
	AuthorAssociation string    `json:"author_association,omitempty"`
	// Confirmed marks a review GitHub's REST API has shown (the reviews
	// list, or the single review read back). A webhook's review is only a
	// claim: anyone holding the webhook secret can sign one. See
	// Evidence.Counted.
	Confirmed bool `json:"confirmed,omitempty"`
	// Disputed says what GitHub's REST API contradicts in the claim (it
	// has no such review); a disputed review never counts.
	Disputed string `json:"disputed,omitempty"`
}

// Comment is one pull request conversation comment. Events carry its Body;
// the evidence keeps only the Command the body held (Apply parses it and
// drops the body), and only comments that held one: the votes, the lifts
// and their history are what counts, not the conversation.
type Comment struct {
	ID   int64  `json:"id"`
	User string `json:"user"`
	// Body is the comment's text as an event brings it; "" in the
	// evidence (evidence written before commands were kept may hold one).
	Body string `json:"body,omitempty"`
	// Command is the command the body held, nil when it held none.
	Command   *Command  `json:"command,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	Deleted   bool      `json:"deleted,omitempty"`
	// EditedBy is who edited or deleted the comment, when a webhook says
	// so. An edit or deletion by anyone but the author is kept out of the
	// vote: people with write access can edit others' comments, and must
	// not be able to turn a NOGO into a GO.
	EditedBy string `json:"edited_by,omitempty"`
	// Fetched marks a comment read from the comments list rather than from
	// a webhook. The list recovers comments whose webhook was lost; it does
	// not say who edited a comment, so it never overrides a webhook's view,
	// and an edit it shows counts only when it closes the gate (a NOGO)
	// until the edit's webhook names the author as the editor.
	Fetched bool `json:"fetched,omitempty"`
	// Via is ViaSlack for the gatekeeper's echo of a vote cast in Slack:
	// User is then the voter the Slack user is mapped to, not the
	// gatekeeper's account that GitHub names as the author, and Command
	// is the vote cast, whatever the comment's text says. Webhooks and
	// the comments list never change such a comment (see SlackVote).
	Via string `json:"via,omitempty"`
	// HeadSHA is, for an echo (Via ViaSlack), the head the vote was cast
	// on: the head when the press was recorded (SlackVote.HeadSHA). It
	// places the vote instead of the comment's time, which is the echo's.
	HeadSHA string `json:"head_sha,omitempty"`
	// Confirmed marks a comment whose author, command and time GitHub's
	// REST API has shown (the comments list, or the single comment read
	// back); Disputed, what it contradicts. Like Review.Confirmed.
	Confirmed bool   `json:"confirmed,omitempty"`
	Disputed  string `json:"disputed,omitempty"`
	// DeletionClaimed is who a webhook says deleted this NOGO (its
	// author), while GitHub has not confirmed the deletion;
	// DeletionClaimedAt, when the claim arrived. A signed webhook is only a
	// claim (see claims.go): the NOGO stands until GitHub answers 404 for
	// the comment, and a deletion GitHub contradicts is forgotten.
	DeletionClaimed   string    `json:"deletion_claimed,omitempty"`
	DeletionClaimedAt time.Time `json:"deletion_claimed_at,omitzero"`
	// EditClaimed marks the claim as an edit that took the NOGO away (into
	// no command, or another): the NOGO stands until GitHub shows the
	// comment changed, and GitHub's version then replaces it as the
	// author's edit.
	EditClaimed bool `json:"edit_claimed,omitempty"`
}

// CommentsCursor is a position in the comments list: the list is read
// with GitHub's since=Since (comments created or edited since), from page
// Page (1 or 0: the first), in a pass that began at PassStart by the
// gatekeeper's clock. A pass that ends sets Since to its start, less a
// margin for clock skew and replica lag; one cut short keeps Since and
// goes on from Page at the next read.
type CommentsCursor struct {
	Since     time.Time `json:"since"`
	Page      int       `json:"page,omitempty"`
	PassStart time.Time `json:"pass_start,omitempty"`
}

// Check is a commit status or check run posted by another system.
type Check struct {
	Name        string    `json:"name"`
	SHA         string    `json:"sha"`
	Kind        string    `json:"kind"`  // "status" or "check_run"
	State       string    `json:"state"` // success, failure, error, pending
	Description string    `json:"description,omitempty"`
	URL         string    `json:"url,omitempty"`
	UpdatedAt   time.Time `json:"updated_at"`
	// Creator is who GitHub says posted it: the login that created a
	// status (the status webhook's sender, a listed status' creator), the
	// app that created a check run. "" when GitHub did not say. It tells
	// the gatekeeper's own statuses from anybody else's in its context.
	Creator string `json:"creator,omitempty"`
	// The fields above are the newest report of the check, whoever made
	// it (GitHub shows that one). Anyone with write access may report in
	// any context, so the gatekeeper also remembers who reported it first
	// on this commit: another creator's later report does not replace
	// that one's verdict (see CheckOwner).
	//
	// FirstCreator is who first reported the check on this commit, as
	// far as the gatekeeper learnt (a webhook, or the oldest status of the
	// context in GitHub's list); "" when unknown.
	FirstCreator string `json:"first_creator,omitempty"`
	// Original is, while the newest report is by another creator than
	// FirstCreator, FirstCreator's newest report: its verdict stands.
	// nil otherwise (and when FirstCreator's report is not known).
	Original *CheckReport `json:"original,omitempty"`
	// OtherCreators are the other creators that reported the check on
	// this commit, in the order learnt, at most maxOtherCreators.
	OtherCreators []string `json:"other_creators,omitempty"`
}

// CheckReport is one report of a check: a status or a check run.
type CheckReport struct {
	Creator     string    `json:"creator,omitempty"`
	State       string    `json:"state"`
	Description string    `json:"description,omitempty"`
	URL         string    `json:"url,omitempty"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// maxOtherCreators bounds Check.OtherCreators: a flood of hand-set
// statuses from many accounts must not grow the evidence without end.
const maxOtherCreators = 10

// Report is the newest report the check holds.
func (c Check) Report() CheckReport {
	return CheckReport{Creator: c.Creator, State: c.State, Description: c.Description, URL: c.URL, UpdatedAt: c.UpdatedAt}
}

// TakenOver reports whether the newest report of the check is by another
// creator than the one that first reported it ("ci/build reported by
// ci-bot, then set to success by dev-mallory"). A later report by the
// first creator is normal; so is a check whose first creator is unknown.
// A newest report whose creator GitHub did not name, over a known first
// creator, counts as taken over: it cannot be shown to be the original's.
func (c Check) TakenOver() bool {
	return c.FirstCreator != "" && !strings.EqualFold(c.Creator, c.FirstCreator)
}

// Owner is the verdict that counts for the check: the first creator's
// newest report while another creator took it over (nil when that report
// is not known), else the newest report.
func (c Check) Owner() *CheckReport {
	if c.TakenOver() {
		if c.Original == nil {
			return nil
		}
		o := *c.Original
		return &o
	}
	r := c.Report()
	return &r
}

func (c Check) clone() Check {
	if c.Original != nil {
		o := *c.Original
		c.Original = &o
	}
	c.OtherCreators = append([]string(nil), c.OtherCreators...)
	if len(c.OtherCreators) == 0 {
		c.OtherCreators = nil
	}
	return c
}

// BaseTip is the commit a base branch pointed at, as of At.
type BaseTip struct {
	Ref string `json:"ref"` // the branch name, "master"
	SHA string `json:"sha"`
	// At is when the branch moved there (GitHub's push time) or, when
	// read from GitHub, when it was read; the newer of two tips wins.
	At time.Time `json:"at"`
	// Source says where it was learnt: "push" (a webhook) or "github"
	// (read from the REST API).
	Source string `json:"source"`
	// Before is, for a push, the commit the branch pointed at before it.
	Before string `json:"before,omitempty"`
}

// Repo names the repository an event is about. ID is GitHub's numeric
// id, which survives renames; Owner and Name are its current names.
type Repo struct {
	ID    int64  `json:"id,omitempty"`
	Owner string `json:"owner"`
	Name  string `json:"name"`
}

// SourceStatus is the outcome of one evidence source's last Gather.
type SourceStatus struct {
	OK        bool      `json:"ok"`
	Error     string    `json:"error,omitempty"`
	Attempts  int       `json:"attempts,omitempty"` // consecutive failures
	CheckedAt time.Time `json:"checked_at"`
}

// PublishedStatus is a commit status as it was last sent.
type PublishedStatus struct {
	SHA         string    `json:"sha"`
	State       State     `json:"state"`
	Description string    `json:"description"`
	TargetURL   string    `json:"target_url"`
	DryRun      bool      `json:"dry_run,omitempty"`
	At          time.Time `json:"at"`
	// Creator is the login GitHub named as the status' creator (the
	// gatekeeper's token), "" in a dry run or when GitHub did not say.
	Creator string `json:"creator,omitempty"`
	// Replaced identifies the status by someone else in the gatekeeper's
	// context that was the newest on the commit when this was sent
	// (ForeignStatusID), so that each one is corrected once.
	Replaced string `json:"replaced,omitempty"`
	// Corrections counts the posts in a row on this commit that corrected
	// someone else's status; it spaces them out, so that another system
	// posting in the same context cannot start a war of posts.
	Corrections int `json:"corrections,omitempty"`
}

// ForeignStatusID identifies one status posted in the gatekeeper's context
// by someone else: who, when, and what it said.
func ForeignStatusID(c Check) string {
	return c.Creator + "@" + c.UpdatedAt.UTC().Format(time.RFC3339Nano) + " " + c.State + " " + c.Description
}

// LogEntry is one line of the evidence trail.
type LogEntry struct {
	Delivery string    `json:"delivery,omitempty"`
	Event    string    `json:"event"`
	SHA      string    `json:"sha,omitempty"`
	At       time.Time `json:"at"`
}

// MaxLog bounds Evidence.Log; older entries are dropped first.
const MaxLog = 200

// Event is one normalised fact from a webhook or an evidence source. Exactly
// the fields that the fact carries are set.
type Event struct {
	Delivery string    `json:"delivery,omitempty"`
	Name     string    `json:"name"` // e.g. "pull_request.synchronize"
	Received time.Time `json:"received"`
	// Key is the pull request the event is about; zero when only SHA is
	// known (status and check events), and resolved by the Service.
	Key         PullKey      `json:"key"`
	SHA         string       `json:"sha,omitempty"`
	PullRequest *PullRequest `json:"pull_request,omitempty"`
	Review      *Review      `json:"review,omitempty"`
	Comment     *Comment     `json:"comment,omitempty"`
	Check       *Check       `json:"check,omitempty"`
	Build       *Build       `json:"build,omitempty"`
	Baseline    *Build       `json:"baseline,omitempty"`
	Membership  *Membership  `json:"membership,omitempty"`
	// MergedPulls, when not nil, replaces the list of merged pull requests.
	MergedPulls *[]MergedPull `json:"merged_pulls,omitempty"`
	IssueCheck  *IssueCheck   `json:"issue_check,omitempty"`
	// CommentsCursor, when not nil, replaces Evidence.CommentsCursor.
	CommentsCursor *CommentsCursor `json:"comments_cursor,omitempty"`
	// Answered records that the vote in comment Answered.CommentID was
	// answered with Answered.Verdict.
	Answered *Answer `json:"answered,omitempty"`
	// Repo is the repository an event that names only a commit or a
	// branch (status, check_run, push) is about: it applies only to that
	// repository's pull requests. Such an event without it applies to
	// none.
	Repo *Repo `json:"repo,omitempty"`
	// BaseTip is a base branch's new tip (push, or GitHub read).
	BaseTip *BaseTip `json:"base_tip,omitempty"`
	// SlackVote is a vote cast in Slack, to be echoed on the pull
	// request; SlackEcho says that its echo comment was posted.
	SlackVote *SlackVote `json:"slack_vote,omitempty"`
	SlackEcho *SlackEcho `json:"slack_echo,omitempty"`
}

// Membership is one checked GitHub team membership. Only an "active"
// membership makes Active true; a pending invitation is not membership.
type Membership struct {
	Team      string    `json:"team"` // "org/team-slug"
	User      string    `json:"user"`
	Active    bool      `json:"active"`
	CheckedAt time.Time `json:"checked_at"`
}

// Key identifies the membership: "org/team-slug/user".
func (m Membership) Key() string { return m.Team + "/" + m.User }

// MergedPull is a pull request merged into the release pull request's head
// branch since its base, with the issue links its body and branch carry.
type MergedPull struct {
	Number  int        `json:"number"`
	Title   string     `json:"title"`
	Author  string     `json:"author"`
	HeadRef string     `json:"head_ref"`
	Links   []IssueRef `json:"links"`
}

// IssueCheck is the outcome of looking a linked issue up in ZenHub.
type IssueCheck struct {
	Ref   IssueRef `json:"ref"`
	Found bool     `json:"found"`
	// Pipeline is the ZenHub pipeline the issue is in, when found.
	Pipeline  string    `json:"pipeline,omitempty"`
	CheckedAt time.Time `json:"checked_at"`
}

// Answer records the gatekeeper's answer to a vote comment.
type Answer struct {
	CommentID int64  `json:"comment_id"`
	Verdict   string `json:"verdict"`
	// User and Why, for a refusal, are whom it was told to and why.
	User string `json:"user,omitempty"`
	Why  string `json:"why,omitempty"`
}

// maxRefusals bounds Evidence.Refusals: past it, a new person's refusals
// are told each time (a crowd of strangers is bounded elsewhere).
const maxRefusals = 200

// Apply folds e into the evidence. It is deterministic and never fails, so
// that replaying the same events always gives the same evidence.
func (ev *Evidence) Apply(e Event) {
	if ev.Key == (PullKey{}) {
		ev.Key = e.Key
	}
	if len(ev.Comments) > 0 && ev.Comments[0].Body != "" {
		ev.compactComments() // written before commands were kept
	}
	if pr := e.PullRequest; pr != nil {
		if ev.PR != nil && ev.PR.RepoID != 0 && pr.RepoID != 0 && pr.RepoID != ev.PR.RepoID {
			// Another repository has this name now (the one known was
			// renamed or deleted, and a new one took its name): nothing
			// known of the old one's pull request is this one's.
			*ev = Evidence{Key: ev.Key, Log: ev.Log, Version: ev.Version}
		}
		ev.applyPull(*pr, e.Received)
	}
	if r := e.Review; r != nil {
		ev.upsertReview(*r)
	}
	if c := e.Comment; c != nil {
		ev.upsertComment(*c, e.Received)
	}
	if c := e.Check; c != nil {
		ev.upsertCheck(*c)
	}
	if b := e.Build; b != nil {
		ev.upsertBuild(b.clone(), e)
	}
	if b := e.Baseline; b != nil && (ev.Baseline == nil || !b.UpdatedAt.Before(ev.Baseline.UpdatedAt)) {
		cp := *b
		ev.Baseline = &cp
	}
	if m := e.Membership; m != nil {
		if ev.Memberships == nil {
			ev.Memberships = map[string]Membership{}
		}
		ev.Memberships[m.Key()] = *m
	}
	if mp := e.MergedPulls; mp != nil {
		ev.MergedPulls = append([]MergedPull{}, (*mp)...)
		ev.MergedPullsAt = e.Received
	}
	if c := e.IssueCheck; c != nil {
		if ev.IssueChecks == nil {
			ev.IssueChecks = map[string]IssueCheck{}
		}
		ev.IssueChecks[c.Ref.String()] = *c
	}
	if t := e.BaseTip; t != nil && t.SHA != "" {
		cp := *t
		if cp.At.IsZero() {
			cp.At = e.Received
		}
		// Deliveries come in any order: an older push must not move
		// the tip back. A push from the known tip is newer whatever the
		// clocks say (a read's time is the gatekeeper's, a push's
		// GitHub's). A tip of another branch (the pull request was
		// retargeted) replaces it whatever its time.
		old := ev.BaseTip
		if old == nil || old.Ref != cp.Ref || !cp.At.Before(old.At) || (cp.Before != "" && cp.Before == old.SHA) {
			ev.BaseTip = &cp
		}
	}
	if c := e.CommentsCursor; c != nil {
		cp := *c
		ev.CommentsCursor = &cp
	}
	if v := e.SlackVote; v != nil {
		ev.applySlackVote(*v)
	}
	if v := e.SlackEcho; v != nil {
		ev.applySlackEcho(*v)
	}
	if a := e.Answered; a != nil {
		if ev.Answered == nil {
			ev.Answered = map[int64]string{}
		}
		ev.Answered[a.CommentID] = a.Verdict
		if a.Verdict == "refused" && a.User != "" {
			if ev.Refusals == nil {
				ev.Refusals = map[string]string{}
			}
			if _, known := ev.Refusals[a.User]; known || len(ev.Refusals) < maxRefusals {
				ev.Refusals[a.User] = a.Why
			}
		}
	}
	ev.Log = appendLog(ev.Log, LogEntry{Delivery: e.Delivery, Event: e.Name, SHA: e.SHA, At: e.Received})
}

// appendLog appends l to log and keeps the newest MaxLog entries. Past
// MaxLog the oldest entry is dropped by reslicing, not by copying the
// rest: the entries are copied only when append outgrows the array, which
// it then doubles, so a full log costs one copy of MaxLog entries per
// MaxLog appends instead of one per append.
func appendLog(log []LogEntry, l LogEntry) []LogEntry {
	log = append(log, l)
	if n := len(log); n > MaxLog {
		log = log[n-MaxLog:]
	}
	return log
}

// LogAppended tells how stored, a log as it was stored, became log: by
// dropping the drop oldest entries of stored and appending log[kept:]
// (log[:kept] is stored[drop:]). A log changed anywhere else (inside,
// rather than at its ends) comes out as drop len(stored), kept 0: all of
// it written again. A Store uses it to write a delivery's new log entries
// and not the log.
func LogAppended(stored, log []LogEntry) (drop, kept int) {
	for drop = max(0, len(stored)-len(log)); drop < len(stored); drop++ {
		kept = len(stored) - drop
		if !log[0].equal(stored[drop]) {
			continue
		}
		same := true
		for i := 1; i < kept; i++ {
			if !log[i].equal(stored[drop+i]) {
				same = false
				break
			}
		}
		if same {
			return drop, kept
		}
	}
	return len(stored), 0
}

// equal reports whether l and o are the same entry (times compared as
// instants, as JSON keeps them).
func (l LogEntry) equal(o LogEntry) bool {
	return l.Delivery == o.Delivery && l.Event == o.Event && l.SHA == o.SHA && l.At.Equal(o.At)
}

// applyPull keeps the newest snapshot: webhooks can arrive out of order, and
// an older "opened" must not undo a newer "synchronize".
func (ev *Evidence) applyPull(pr PullRequest, at time.Time) {
	if ev.PR != nil && pr.UpdatedAt.Before(ev.PR.UpdatedAt) {
		return
	}
	if pr.HeadSHA != "" && (len(ev.Heads) == 0 || ev.Heads[len(ev.Heads)-1].SHA != pr.HeadSHA) {
		// GitHub's own time of the change, so that votes can be placed
		// on the head they were cast on whatever order webhooks arrive in.
		if !pr.UpdatedAt.IsZero() {
			at = pr.UpdatedAt
		}
		ev.Heads = append(ev.Heads, HeadChange{SHA: pr.HeadSHA, At: at})
	}
	if ev.PR != nil && ev.PR.State != "open" && pr.State == "open" {
		// Reopened: pushes to the base while it was closed were not
		// routed to it, so the tip it knows may be stale.
		ev.BaseTip = nil
	}
	cp := pr
	cp.Labels = append([]string(nil), pr.Labels...)
	cp.LabeledAt = labeledAt(ev.PR, pr)
	ev.PR = &cp
}

// labeledAt gives, for each label the new snapshot has, the latest time it
// was seen being added: the snapshot's own (a "labeled" webhook) or the
// one kept from before (other snapshots carry no label times). A label the
// snapshot no longer has loses its time, so that adding it again is a new
// time.
func labeledAt(old *PullRequest, pr PullRequest) map[string]time.Time {
	var out map[string]time.Time
	for _, l := range pr.Labels {
		t, ok := pr.LabeledAt[l]
		if old != nil {
			if o, had := old.LabeledAt[l]; had && (!ok || o.After(t)) {
				t, ok = o, true
			}
		}
		if ok {
			if out == nil {
				out = map[string]time.Time{}
			}
			out[l] = t
		}
	}
	return out
}

func (ev *Evidence) upsertReview(r Review) {
	r.State = NormalizeReviewState(r.State)
	if r.Disputed != "" {
		// GitHub's REST API contradicts a claim: only the claim is
		// marked, nothing GitHub has shown.
		for i := range ev.Reviews {
			if cur := &ev.Reviews[i]; cur.ID == r.ID && !cur.Confirmed {
				cur.Disputed = r.Disputed
			}
		}
		return
	}
	for i := range ev.Reviews {
		if ev.Reviews[i].ID == r.ID {
			cur := ev.Reviews[i]
			if !r.Confirmed && cur.Confirmed && r.State != "DISMISSED" {
				// GitHub showed this review; a submitted review never
				// changes but by dismissal, so a claim saying otherwise
				// is a redelivery or a forgery, and must not hide (even
				// for a moment) a request for changes GitHub has.
				return
			}
			if !r.Confirmed && cur.Disputed != "" && cur.User == r.User && cur.State == r.State && cur.CommitID == r.CommitID {
				r.Disputed = cur.Disputed // a claim disputed stays so
			}
			// A dismissal is final: a late or redelivered "submitted"
			// must not bring the approval back.
			if ev.Reviews[i].State == "DISMISSED" {
				r.State = "DISMISSED"
			}
			ev.Reviews[i] = r
			return
		}
	}
	ev.Reviews = append(ev.Reviews, r)
}

func (ev *Evidence) upsertComment(c Comment, received time.Time) {
	c.compact()
	if ev.claimDeletion(c, received) {
		return
	}
	for i := range ev.Comments {
		if cur := &ev.Comments[i]; cur.ID == c.ID && cur.DeletionClaimed != "" {
			// A redelivered creation or edit keeps a deletion claim
			// pending (upsertComment changes cur in place).
			claim, at := cur.DeletionClaimed, cur.DeletionClaimedAt
			defer func() {
				if !cur.Deleted && cur.DeletionClaimed == "" {
					cur.DeletionClaimed, cur.DeletionClaimedAt = claim, at
				}
			}()
		}
	}
	// An edited comment read from the list does not say who edited it:
	// anybody with write access may edit anybody's comment. Until a
	// webhook names the editor, such an edit may only close the gate
	// (a NOGO, or a command dropped that was not a NOGO), never open it.
	unattributed := c.Fetched && !c.Deleted && c.UpdatedAt.After(c.CreatedAt)
	for i := range ev.Comments {
		cur := &ev.Comments[i]
		if cur.ID != c.ID {
			continue
		}
		if c.Disputed != "" {
			// GitHub's REST API contradicts a claim (see Evidence.Counted).
			if cur.Confirmed {
				return
			}
			if c.restores(cur) {
				// GitHub still has what the claim (a forged edit)
				// replaced: the author's comment as they wrote it, or
				// a NOGO. It stands again.
				r := c
				r.Disputed, r.EditedBy, r.Deleted = "", "", false
				*cur = r
				return
			}
			cur.Disputed = c.Disputed
			return
		}
		if c.Confirmed && !c.Deleted && !cur.Deleted && cur.shows(c) {
			// GitHub shows what the evidence holds: the claim is confirmed.
			cur.Confirmed, cur.Disputed = true, ""
			return
		}
		if !c.Confirmed && (cur.Confirmed || cur.Disputed != "") && !c.Deleted && cur.shows(c) {
			// A redelivery of what GitHub already showed, or of a claim
			// it already contradicted.
			return
		}
		switch {
		// The echo of a Slack vote is the voter's vote as recorded when
		// it was posted; GitHub's copies of it name the gatekeeper as
		// author (and anyone with write access may edit it), so their
		// text changes nothing. It replaces the copy that arrived first.
		// GitHub is the record: when the echo is deleted, a GO goes with
		// it (fail closed), a NOGO stays (whoever deleted it, it was not
		// the voter taking it back).
		case c.Via == ViaSlack:
			*cur = c
		case cur.Via == ViaSlack:
			if cmd, ok := cur.command(); c.Deleted && ok && cmd.Kind != "nogo" {
				cur.Deleted = true
			}
		// A deletion is final (its delivery may arrive before the
		// creation's), and an older edit never replaces a newer one.
		case cur.Deleted, c.UpdatedAt.Before(cur.UpdatedAt):
		// Someone else's edit known only from the list so far: what
		// the evidence holds is that edit, not the author's vote.
		case c.EditedBy != "" && c.EditedBy != cur.User && cur.Fetched && !cur.UpdatedAt.Before(c.UpdatedAt):
			if cmd, ok := cur.command(); !ok || cmd.Kind != "nogo" {
				cur.Deleted, cur.EditedBy = true, c.EditedBy
			}
		// Someone else's edit or deletion does not change the author's
		// vote; it stays in the log for the record.
		case c.EditedBy != "" && c.EditedBy != cur.User:
		case unattributed && !closes(cur, c):
		// The list only recovers what webhooks missed. When a known
		// comment has vanished from GitHub, a GO, a /withdraw or a
		// lift goes (fail closed) but a NOGO stays: GitHub cannot say
		// who deleted it.
		case c.Fetched && c.Deleted:
			if cmd, ok := cur.command(); ok && cmd.Kind != "nogo" {
				cur.Deleted = true
			}
		case c.Fetched && !cur.Fetched:
		default:
			*cur = c
		}
		return
	}
	if c.EditedBy != "" && c.EditedBy != c.User {
		// First seen through someone else's edit or deletion: what the
		// author wrote is unknown, so it is no vote at all.
		c.Deleted = true
	}
	if c.Disputed != "" || (c.Fetched && c.Deleted) {
		return // never seen, and gone
	}
	if unattributed && (c.Command == nil || c.Command.Kind != "nogo") {
		// Edited by someone GitHub's list does not name: the edit's
		// webhook says who, and brings it in if it was the author.
		return
	}
	if c.Command == nil {
		// Holds no command: nothing in it counts, and a later edit
		// that adds one arrives with its body. (A deletion or someone
		// else's edit of a command is kept: it must stay final when
		// the creation arrives after it.)
		return
	}
	ev.Comments = append(ev.Comments, c)
	ev.trimComments(c.User)
}

// claimDeletion handles c when it is a webhook's deletion of a NOGO by its
// author, or an edit by its author that takes the NOGO away, or GitHub's
// answer to such a claim, and reports whether it did.
// A deletion claim leaves the NOGO standing, marked DeletionClaimed, until
// GitHub confirms it (a Confirmed deletion: the comment answers 404); what
// GitHub shows of the comment refutes it. Someone else's deletion of a NOGO
// is no claim at all: it never drops the NOGO (upsertComment).
func (ev *Evidence) claimDeletion(c Comment, received time.Time) bool {
	var cur *Comment
	for i := range ev.Comments {
		if ev.Comments[i].ID == c.ID {
			cur = &ev.Comments[i]
		}
	}
	if cur != nil && cur.DeletionClaimed != "" && !cur.Deleted {
		switch {
		case c.Confirmed && c.Deleted:
			cur.Deleted, cur.EditedBy = true, cur.DeletionClaimed
			cur.DeletionClaimed, cur.DeletionClaimedAt, cur.EditClaimed = "", time.Time{}, false
			return true
		case c.Confirmed || c.Disputed != "":
			// GitHub still has the comment: a deletion was forged (or
			// replayed), and so was an edit unless GitHub shows it
			// (githubapi sends it as the author's, not Fetched). The
			// NOGO stands as it was; GitHub's version confirms it when
			// it shows the same.
			cur.DeletionClaimed, cur.DeletionClaimedAt, cur.EditClaimed = "", time.Time{}, false
			if c.Disputed != "" {
				return true
			}
			return false
		}
	}
	if c.Fetched || c.Confirmed || c.Via == ViaSlack || (c.EditedBy != "" && c.EditedBy != c.User) {
		return false
	}
	nogo := func(x *Comment) bool { cmd, ok := x.command(); return ok && cmd.Kind == "nogo" }
	if !c.Deleted {
		// An edit by the author that takes their NOGO away is a claim
		// like a deletion (an edit into another NOGO only closes).
		if c.EditedBy == "" || cur == nil || cur.Deleted || cur.Via == ViaSlack || cur.User != c.User || !nogo(cur) || nogo(&c) {
			return false
		}
		cur.DeletionClaimed, cur.DeletionClaimedAt, cur.EditClaimed = c.User, received, true
		return true
	}
	switch {
	case cur == nil && nogo(&c):
		// First seen deleted: the NOGO it held stands until GitHub
		// confirms the deletion.
		c.Deleted, c.DeletionClaimed, c.DeletionClaimedAt = false, c.User, received
		ev.Comments = append(ev.Comments, c)
		ev.trimComments(c.User)
		return true
	case cur != nil && !cur.Deleted && cur.Via != ViaSlack && cur.User == c.User && nogo(cur):
		// What the evidence holds is the NOGO: a forged deletion's
		// body must not replace it.
		cur.DeletionClaimed, cur.DeletionClaimedAt, cur.EditClaimed = c.User, received, false
		return true
	}
	return false
}

// shows reports whether c says what cur holds: the same author, command
// and time of the last edit.
func (cur *Comment) shows(c Comment) bool {
	if cur.User != c.User || !cur.UpdatedAt.Equal(c.UpdatedAt) {
		return false
	}
	a, okA := cur.command()
	b, okB := c.command()
	return okA == okB && a == b
}

// restores reports whether the dispute c carries GitHub's own version of
// the comment (Confirmed) that may replace the disputed claim cur: by the
// same author, and never edited or a NOGO (the list does not say who
// edited a comment, so an edit counts only when it closes the gate).
func (c Comment) restores(cur *Comment) bool {
	if !c.Confirmed || c.User != cur.User || c.Command == nil {
		return false
	}
	return c.Command.Kind == "nogo" || !c.UpdatedAt.After(c.CreatedAt)
}

// closes reports whether replacing cur by the edit c can only close the
// gate: c is a NOGO, or c holds no command and cur held no NOGO (a GO, a
// /withdraw or a lift dropped takes nothing back that blocks).
func closes(cur *Comment, c Comment) bool {
	if c.Command != nil {
		return c.Command.Kind == "nogo"
	}
	cmd, ok := cur.command()
	return !ok || cmd.Kind != "nogo"
}

func (ev *Evidence) upsertCheck(c Check) {
	c = c.clone()
	for i := range ev.Checks {
		// A check run and a status of the same name are two checks:
		// GitHub requires both to pass, so one must not hide the other.
		if ev.Checks[i].Name == c.Name && ev.Checks[i].SHA == c.SHA && ev.Checks[i].Kind == c.Kind {
			ev.Checks[i] = mergeCheck(ev.Checks[i], c)
			return
		}
	}
	if c.FirstCreator == "" {
		c.FirstCreator = c.Creator
	}
	ev.Checks = append(ev.Checks, mergeCheck(Check{Name: c.Name, SHA: c.SHA, Kind: c.Kind, FirstCreator: c.FirstCreator}, c))
}

// mergeCheck merges the report c (a webhook's, or a fetch's, which may
// also name the first creator and its newest report) into the check held,
// cur. The newest report is GitHub's view, as before; who reported first
// is kept from the first report learnt, and while another creator's
// report is the newest, the first creator's newest report is kept as
// Original, so that a status set by hand over another system's never
// replaces that system's verdict.
func mergeCheck(cur, c Check) Check {
	first := cur.FirstCreator
	if first == "" {
		// A fetch names the oldest creator in GitHub's list.
		first = c.FirstCreator
	}
	if first == "" && len(cur.OtherCreators) == 0 {
		// Held before first creators were recorded: its creator is the
		// first known. (A check merged since with its first creator
		// unknown names the others: none of them is taken for the
		// first, whoever reports next.)
		first = cur.Creator
	}
	reports := []*CheckReport{cur.Original, c.Original}
	if !cur.UpdatedAt.IsZero() || cur.State != "" {
		r := cur.Report()
		reports = append(reports, &r)
	}
	r := c.Report()
	reports = append(reports, &r)
	out := cur
	if cur.State == "" && cur.UpdatedAt.IsZero() || !c.UpdatedAt.Before(cur.UpdatedAt) {
		// The newest report wins the top-level fields, as GitHub shows it.
		out.State, out.Description, out.URL, out.UpdatedAt, out.Creator = c.State, c.Description, c.URL, c.UpdatedAt, c.Creator
	}
	out.FirstCreator = first
	out.Original = nil
	if out.TakenOver() {
		for _, r := range reports {
			if r != nil && strings.EqualFold(r.Creator, first) && (out.Original == nil || !r.UpdatedAt.Before(out.Original.UpdatedAt)) {
				o := *r
				out.Original = &o
			}
		}
	}
	others := append(append([]string(nil), cur.OtherCreators...), c.OtherCreators...)
	others = append(others, cur.Creator, c.Creator)
	out.OtherCreators = nil
	for _, o := range others {
		if o == "" || strings.EqualFold(o, first) || slices.ContainsFunc(out.OtherCreators, func(s string) bool { return strings.EqualFold(s, o) }) {
			continue
		}
		if len(out.OtherCreators) < maxOtherCreators {
			out.OtherCreators = append(out.OtherCreators, o)
		}
	}
	return out
}

// phaseRank orders notification phases; a later phase is never replaced
// by an earlier one arriving late.
var phaseRank = map[string]int{"": 0, "QUEUED": 1, "STARTED": 2, "COMPLETED": 3, "FINALIZED": 4}

// upsertBuild merges b into the build with the same job and number.
//
// A Verified b is Jenkins' REST API speaking: its facts replace the ones
// held (claims' or an older read's), every claim is checked against them
// (Claim.Disputes), and the image digest and chart version are taken from
// the claims Jenkins does not contradict that name the commit it built,
// and from none when those disagree (Build.claimed). Any other b is a claim (a
// notification or a report, e the event that brought it): it is recorded,
// and it never changes facts Jenkins stated; it only asks for the build to
// be read again (Recheck). Before any read, the claims are the facts, and
// they fail closed: a sha once claimed is not replaced by another claim,
// and of two finished results the worse one stands.
func (ev *Evidence) upsertBuild(b Build, e Event) {
	i := slices.IndexFunc(ev.Builds, func(old Build) bool { return old.JobPath == b.JobPath && old.Number == b.Number })
	if !b.Verified && !b.Gone {
		c := Claim{
			Delivery: e.Delivery, Event: e.Name, Phase: b.Phase, Result: b.Result,
			HeadSHA: b.HeadSHA, BaseSHA: b.BaseSHA, MergeSHA: b.MergeSHA,
			ImageDigest: b.ImageDigest, ChartVersion: b.ChartVersion, BaseChartVersion: b.BaseChartVersion,
			At: e.Received,
		}
		if i < 0 {
			b.Claims = []Claim{c}
			ev.appendBuild(b)
			return
		}
		old := &ev.Builds[i]
		if old.Verified || old.Gone {
			c.Disputes = Contradictions(*old, c)
			old.addClaim(c)
			old.Recheck = true
			old.pickClaimed()
			if b.UpdatedAt.After(old.UpdatedAt) {
				old.UpdatedAt = b.UpdatedAt
			}
			return
		}
		old.addClaim(c)
		*old = mergeClaim(*old, b)
		old.pickClaimed()
		return
	}
	if i < 0 {
		b.Recheck = false
		b.pickClaimed()
		ev.appendBuild(b)
		return
	}
	old := ev.Builds[i]
	out := b
	if old.Verified && b.Verified {
		// A report a read could not fetch this time (an error, not a
		// 404) keeps the value an earlier read of the same build gave.
		out = keepReports(old, b)
	}
	if out.URL == "" {
		out.URL = old.URL
	}
	out.Claims = old.Claims
	if len(b.Claims) > len(out.Claims) {
		out.Claims = b.Claims
	}
	out.Claims = slices.Clone(out.Claims)
	for j := range out.Claims {
		out.Claims[j].Disputes = Contradictions(out, out.Claims[j])
	}
	// What claims left that a read does not carry.
	out.Dropped = slices.Clone(old.Dropped)
	if len(b.Dropped) > len(out.Dropped) {
		out.Dropped = slices.Clone(b.Dropped)
	}
	for j := range out.Dropped {
		out.Dropped[j].Disputes = Contradictions(out, out.Dropped[j])
	}
	out.LostNamed, out.LostUnnamed = old.LostNamed || b.LostNamed, old.LostUnnamed || b.LostUnnamed
	if out.Disagreed == nil {
		out.Disagreed = old.Disagreed
	}
	// A claim that came while Jenkins was being read (the read carries
	// the claims it saw) is checked above against this read, and read
	// for again, so that its dispute is logged too.
	out.Recheck = b.Claims != nil && len(old.Claims) > len(b.Claims)
	out.pickClaimed()
	ev.Builds[i] = out
}

// maxBuilds bounds Evidence.Builds, so that claims about made-up build
// numbers cannot grow the evidence without end.
const maxBuilds = 50

// appendBuild appends b, and past maxBuilds drops one build: the first
// Jenkins said it does not have, else the first of another head than the
// current one, else the first not read from Jenkins, else the oldest.
func (ev *Evidence) appendBuild(b Build) {
	ev.Builds = append(ev.Builds, b)
	if len(ev.Builds) <= maxBuilds {
		return
	}
	head := ev.HeadSHA()
	drop := slices.IndexFunc(ev.Builds, func(x Build) bool { return x.Gone })
	if drop < 0 {
		drop = slices.IndexFunc(ev.Builds, func(x Build) bool { return head == "" || x.HeadSHA != head })
	}
	if drop < 0 {
		drop = slices.IndexFunc(ev.Builds, func(x Build) bool { return !x.Verified })
	}
	if drop < 0 {
		drop = 0
	}
	ev.Builds = slices.Delete(ev.Builds, drop, drop+1)
}

// addClaim appends c to b's claims, keeping at most maxClaims. Past the
// bound it drops the oldest claim that can never bring b a value
// (neverCounts: none, disputed, or not naming the commit Jenkins stated
// it built), else the oldest another claim kept repeats, else the oldest
// naming no commit, else the oldest. A disagreement among the claims is
// first recorded (Disagreed), and a claim dropped before it could be told
// whether it names the commit Jenkins built moves to Dropped: so that
// claims that disagree keep disagreeing, and no flood of claims, tied or
// not, can push out the pipeline's own report and leave a forged one to
// count alone.
func (b *Build) addClaim(c Claim) {
	list := append(slices.Clone(b.Claims), c)
	b.Claims = list
	if len(list) <= maxClaims {
		return
	}
	b.noteDisagreement()
	drop := slices.IndexFunc(list, b.neverCounts)
	for i := 0; drop < 0 && i < len(list); i++ {
		if slices.ContainsFunc(list[i+1:], func(y Claim) bool { return sameClaim(list[i], y) }) {
			drop = i
		}
	}
	if drop >= 0 {
		b.Claims = slices.Delete(list, drop, drop+1)
		return
	}
	drop = max(0, slices.IndexFunc(list, func(x Claim) bool { return x.HeadSHA == "" && x.MergeSHA == "" }))
	gone := list[drop]
	b.Claims = slices.Delete(list, drop, drop+1)
	b.keepDropped(gone)
}

// keepDropped adds c, a claim dropped from Claims that may count, to
// Dropped, keeping at most maxClaims: past the bound it drops one that can
// never count, else the oldest that a later one or a claim kept repeats,
// else (claims that disagreed count for nothing anyway) the oldest, else
// the oldest naming no commit (LostUnnamed), else the oldest (LostNamed).
func (b *Build) keepDropped(c Claim) {
	list := append(slices.Clone(b.Dropped), c)
	if len(list) > maxClaims {
		drop := slices.IndexFunc(list, b.neverCounts)
		for i := 0; drop < 0 && i < len(list); i++ {
			if slices.ContainsFunc(slices.Concat(list[i+1:], b.Claims), func(y Claim) bool { return sameClaim(list[i], y) }) {
				drop = i
			}
		}
		if drop < 0 && len(b.Disagreed) > 0 {
			drop = 0
		}
		if drop < 0 {
			if drop = slices.IndexFunc(list, func(x Claim) bool { return x.HeadSHA == "" && x.MergeSHA == "" }); drop >= 0 {
				b.LostUnnamed = true
			} else {
				drop, b.LostNamed = 0, true
			}
		}
		list = slices.Delete(list, drop, drop+1)
	}
	b.Dropped = list
}

// noteDisagreement records in Disagreed how the claims that name the
// commit Jenkins stated it built disagree, if they do; and forgets the
// dropped claims that can never count.
func (b *Build) noteDisagreement() {
	if !b.tieKnown() {
		return
	}
	if _, _, disagree := b.count(); len(disagree) > 0 {
		b.Disagreed = disagree
	}
	b.Dropped = slices.DeleteFunc(slices.Clone(b.Dropped), b.neverCounts)
	if len(b.Dropped) == 0 {
		b.Dropped = nil
	}
}

// pickClaimed sets the build's image digest and chart versions from its
// claims (Build.claimed): once read, from the claims Jenkins does not
// contradict that name the commit it built; before, from all of them; and
// from none when they disagree or did. A build without claims keeps the
// values it was given.
func (b *Build) pickClaimed() {
	if len(b.Claims) == 0 && len(b.Dropped) == 0 {
		return // nothing claimed: the values as they were given
	}
	b.noteDisagreement()
	v := claimedValues{}
	if !b.Gone {
		v, _ = b.claimed()
	}
	b.ImageDigest, b.ChartVersion, b.BaseChartVersion = v.ImageDigest, v.ChartVersion, v.BaseChartVersion
}

// keepReports returns the read b, with the reports it lacks but does not
// list as missing taken from the earlier read old.
func keepReports(old, b Build) Build {
	if b.Stages == nil && !slices.Contains(b.Missing, ReportStages) {
		b.Stages = old.Stages
	}
	if b.Tests == nil && !slices.Contains(b.Missing, ReportTests) {
		b.Tests = old.Tests
	}
	if b.Coverage == nil && !slices.Contains(b.Missing, ReportCoverage) {
		b.Coverage = old.Coverage
	}
	if b.Vulnerabilities == nil && !slices.Contains(b.Missing, "vulnerabilities") {
		b.Vulnerabilities = old.Vulnerabilities
	}
	return b
}

// resultRank orders finished results from best to worst, for claims that
// disagree before Jenkins was read.
var resultRank = map[string]int{ResultSuccess: 0, ResultUnstable: 1}

func worseResult(a, b string) string {
	ra, ok := resultRank[a]
	if !ok {
		ra = 2
	}
	rb, ok := resultRank[b]
	if !ok {
		rb = 2
	}
	if rb > ra {
		return b
	}
	return a
}

// mergeClaim overlays the claim b on old, a build not read from the API:
// a field the newcomer leaves empty keeps its old value, a late QUEUED or
// STARTED notification cannot reopen a finished build, a claimed sha never
// replaces another, and of two finished results the worse stands.
func mergeClaim(old, b Build) Build {
	oldResult := old.Result
	if phaseRank[b.Phase] < phaseRank[old.Phase] || (b.Phase == "" && !old.Building && old.Result != "") {
		b.Phase, b.Result, b.Building = old.Phase, old.Result, old.Building
	}
	if !b.Building && b.Result != "" && oldResult != "" {
		b.Result = worseResult(oldResult, b.Result)
	}
	if old.HeadSHA != "" {
		b.HeadSHA = old.HeadSHA
	}
	if old.BaseSHA != "" {
		b.BaseSHA = old.BaseSHA
	}
	if old.MergeSHA != "" {
		b.MergeSHA = old.MergeSHA
	}
	return mergeBuild(old, b)
}

// mergeBuild returns old overlaid with every field b sets.
func mergeBuild(old, b Build) Build {
	str := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	out := old
	str(&out.JobName, b.JobName)
	str(&out.Strategy, b.Strategy)
	str(&out.HeadSHA, b.HeadSHA)
	str(&out.BaseSHA, b.BaseSHA)
	str(&out.MergeSHA, b.MergeSHA)
	str(&out.Phase, b.Phase)
	str(&out.URL, b.URL)
	str(&out.ImageDigest, b.ImageDigest)
	str(&out.ChartVersion, b.ChartVersion)
	str(&out.BaseChartVersion, b.BaseChartVersion)
	out.Result, out.Building = b.Result, b.Building
	if b.Key.Valid() {
		out.Key = b.Key
	}
	if !b.StartedAt.IsZero() {
		out.StartedAt = b.StartedAt
	}
	if b.Duration != 0 {
		out.Duration = b.Duration
	}
	if b.Stages != nil {
		out.Stages = b.Stages
	}
	if b.Tests != nil {
		out.Tests = b.Tests
	}
	if b.Coverage != nil {
		out.Coverage = b.Coverage
	}
	if b.Vulnerabilities != nil {
		out.Vulnerabilities = b.Vulnerabilities
	}
	if b.Missing != nil {
		out.Missing = b.Missing
	}
	if b.UpdatedAt.After(out.UpdatedAt) {
		out.UpdatedAt = b.UpdatedAt
	}
	return out
}

// CurrentBuild returns the newest build of the current head of the pull
// request's gated job, or nil. The gated job is its PR-<n>-merge job, or
// its plain PR-<n> job when no PR-<n>-merge build of the head is known; a
// "-head" strategy build tested the branch alone, not the merge result,
// and never counts. A build of another job never outranks the gated job's
// by number: when builds of the head come from more than one such job
// (another folder placed for the same pull request), only the
// organisation-folder convention's job/<owner>/job/<repo>/job/PR-<n>-merge
// counts, and without it none does. (The Jenkins source places a
// repository in one folder only, GATEKEEPER_JENKINS_JOBS' or the
// convention's, so a read build of another folder has no repository.)
func (ev *Evidence) CurrentBuild() *Build {
	head := ev.HeadSHA()
	if head == "" || ev.PR == nil {
		return nil
	}
	var (
		cands []*Build
		merge bool
	)
	for i := range ev.Builds {
		b := &ev.Builds[i]
		// A build counts only for its own repository's pull request: a
		// job of another repository (or a mapping gone wrong) with the
		// same number and head is never this pull request's build.
		// A build Jenkins says it does not have is a forgery or gone;
		// a Refused one (a Replay) is no evidence.
		if !b.CountsFor(ev.PR.Key, head) {
			continue
		}
		cands = append(cands, b)
		merge = merge || b.Strategy == "merge"
	}
	if merge {
		// The PR-<n>-merge job is the gated one once it has a build of
		// the head: a plain PR-<n> job is no substitute.
		cands = slices.DeleteFunc(cands, func(b *Build) bool { return b.Strategy != "merge" })
	}
	job := ""
	for _, b := range cands {
		if job == "" {
			job = b.JobPath
		}
		if !strings.EqualFold(b.JobPath, job) {
			job = gatedJobPath(ev.PR.Key, merge)
			break
		}
	}
	var best *Build
	for _, b := range cands {
		if !strings.EqualFold(b.JobPath, job) {
			continue
		}
		if best == nil || b.Number > best.Number || (b.Number == best.Number && b.Verified && !best.Verified) {
			best = b
		}
	}
	return best
}

// gatedJobPath is the pull request's PR-<n>-merge (or PR-<n>) job under the
// organisation-folder convention: job/<owner>/job/<repo>/job/PR-<n>-merge.
func gatedJobPath(k PullKey, merge bool) string {
	name := "PR-" + strconv.Itoa(k.Number)
	if merge {
		name += "-merge"
	}
	return "job/" + url.PathEscape(k.Owner) + "/job/" + url.PathEscape(k.Repo) + "/job/" + name
}

// SamePull reports whether k and o name the same pull request. GitHub's
// owner and repository names are case-insensitive; Jenkins job paths and
// webhooks do not always agree on the case.
func (k PullKey) SamePull(o PullKey) bool {
	return k.Number == o.Number && strings.EqualFold(k.Owner, o.Owner) && strings.EqualFold(k.Repo, o.Repo)
}

// HeadAt returns the head the pull request had at t, or "" before the
// first known head. A head change with t's very time is not yet the head
// at t: GitHub's times have one second's resolution, and a vote in the
// second of a push may have been cast before it, so it goes to the older
// head (fail closed: the voter votes again). The first head known has no
// older one to go to, and keeps its second.
func (ev *Evidence) HeadAt(t time.Time) string {
	sha := ""
	for i, h := range ev.Heads {
		if h.At.After(t) || (i > 0 && h.At.Equal(t)) {
			break
		}
		sha = h.SHA
	}
	return sha
}

// HeadSHA returns the current head sha, or "" when it is not known.
func (ev *Evidence) HeadSHA() string {
	if ev.PR == nil {
		return ""
	}
	return ev.PR.HeadSHA
}

// LatestReviews returns each reviewer's latest review that is not COMMENTED
// or PENDING (a comment does not withdraw an approval), ordered by user.
// Dismissed reviews are returned as DISMISSED so that callers can explain
// why an approval no longer counts.
func (ev *Evidence) LatestReviews() []Review {
	latest := map[string]Review{}
	for _, r := range ev.Reviews {
		switch r.State {
		case "COMMENTED", "PENDING", "":
			continue
		}
		cur, ok := latest[r.User]
		if !ok || r.SubmittedAt.After(cur.SubmittedAt) ||
			(r.SubmittedAt.Equal(cur.SubmittedAt) && r.ID > cur.ID) {
			latest[r.User] = r
		}
	}
	out := make([]Review, 0, len(latest))
	for _, r := range latest {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].User < out[j].User })
	return out
}

// NormalizeReviewState maps webhook review states ("approved") onto the REST
// API's spelling ("APPROVED").
func NormalizeReviewState(s string) string {
	return strings.ToUpper(strings.TrimSpace(s))
}

// Clone returns a deep copy, so that a Store can hand out evidence that the
// caller may change freely (and keep a decoded copy of what it wrote).
func (ev *Evidence) Clone() *Evidence {
	cp := *ev
	if ev.PR != nil {
		pr := *ev.PR
		pr.Labels = append([]string(nil), ev.PR.Labels...)
		if ev.PR.LabeledAt != nil {
			pr.LabeledAt = make(map[string]time.Time, len(ev.PR.LabeledAt))
			for l, t := range ev.PR.LabeledAt {
				pr.LabeledAt[l] = t
			}
		}
		cp.PR = &pr
	}
	cp.Heads = append([]HeadChange(nil), ev.Heads...)
	cp.Reviews = append([]Review(nil), ev.Reviews...)
	cp.Comments = append([]Comment(nil), ev.Comments...)
	cp.SlackVotes = append([]SlackVote(nil), ev.SlackVotes...)
	cp.Checks = append([]Check(nil), ev.Checks...)
	for i := range cp.Checks {
		cp.Checks[i] = cp.Checks[i].clone()
	}
	cp.Builds = make([]Build, len(ev.Builds))
	for i := range ev.Builds {
		cp.Builds[i] = ev.Builds[i].clone()
	}
	if ev.Builds == nil {
		cp.Builds = nil
	}
	cp.MergedPulls = make([]MergedPull, len(ev.MergedPulls))
	for i, p := range ev.MergedPulls {
		p.Links = append([]IssueRef(nil), p.Links...)
		cp.MergedPulls[i] = p
	}
	if ev.MergedPulls == nil {
		cp.MergedPulls = nil
	}
	if ev.Baseline != nil {
		b := ev.Baseline.clone()
		cp.Baseline = &b
	}
	cp.Memberships = cloneMap(ev.Memberships)
	cp.IssueChecks = cloneMap(ev.IssueChecks)
	cp.Answered = cloneMap(ev.Answered)
	cp.Refusals = cloneMap(ev.Refusals)
	cp.Log = append([]LogEntry(nil), ev.Log...)
	cp.Sources = cloneMap(ev.Sources)
	if ev.Posting != nil {
		p := *ev.Posting
		cp.Posting = &p
	}
	if ev.Published != nil {
		p := *ev.Published
		cp.Published = &p
	}
	if ev.BaseTip != nil {
		t := *ev.BaseTip
		cp.BaseTip = &t
	}
	if ev.CommentsCursor != nil {
		c := *ev.CommentsCursor
		cp.CommentsCursor = &c
	}
	return &cp
}

func cloneMap[K comparable, V any](m map[K]V) map[K]V {
	if m == nil {
		return nil
	}
	out := make(map[K]V, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
