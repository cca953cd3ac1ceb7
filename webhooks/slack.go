package webhooks

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// The Slack request headers the interaction endpoint reads.
const (
	headerSlackSignature = "X-Slack-Signature"
	headerSlackTimestamp = "X-Slack-Request-Timestamp"
	slackSignatureV0     = "v0="
	// SlackMaxAge is how old (or how far in the future) a signed Slack
	// request may be: Slack's own advice against replays.
	SlackMaxAge = 5 * time.Minute
	// slackOpenTimeout bounds views.open inside the request.
	slackOpenTimeout = 2500 * time.Millisecond
	// slackMaxBody bounds an interaction payload; Slack's are a few KiB.
	slackMaxBody = 1 << 20
)

// SlackOptions enable POST /webhooks/slack, the GO/NOGO buttons of the
// Slack messages. Without SigningSecret every request is refused with 401.
type SlackOptions struct {
	// SigningSecret is SLACK_SIGNING_SECRET, the key of X-Slack-Signature.
	SigningSecret []byte
	// Voter returns the GitHub login that Slack user user of workspace
	// team votes as, from the policy data in force; ok is false for a
	// Slack user the data does not map (or another workspace).
	Voter func(team, user string) (login string, ok bool)
	// OpenReason opens the modal that asks a NOGO for its reason, with
	// the trigger_id of the button press (Slack's views.open). Nil: the
	// NOGO button is refused (no SLACK_BOT_TOKEN).
	OpenReason func(ctx context.Context, triggerID string, key gatekeeper.PullKey) error
	// Tell, when set, shows text to the Slack user who pressed a button
	// (the interaction's response_url, an ephemeral message). It runs
	// after the answer, in the background, bounded by its own timeout.
	Tell func(ctx context.Context, responseURL, text string)
	// Votes is false when no vote can be echoed on GitHub (no
	// GITHUB_TOKEN): presses are then answered that they do not count.
	Votes bool
	// Now is the clock the timestamp is checked against (default
	// time.Now).
	Now func() time.Time
}

// slackInteraction is the part of a Slack interaction payload (a
// block_actions button press or a view_submission of the NOGO modal) the
// endpoint reads.
type slackInteraction struct {
	Type string `json:"type"`
	Team struct {
		ID string `json:"id"`
	} `json:"team"`
	User struct {
		ID     string `json:"id"`
		TeamID string `json:"team_id"`
	} `json:"user"`
	TriggerID   string `json:"trigger_id"`
	ResponseURL string `json:"response_url"`
	Actions     []struct {
		ActionID string `json:"action_id"`
		Value    string `json:"value"`
		ActionTS string `json:"action_ts"`
	} `json:"actions"`
	View struct {
		ID              string `json:"id"`
		CallbackID      string `json:"callback_id"`
		PrivateMetadata string `json:"private_metadata"`
		State           struct {
			Values map[string]map[string]struct {
				Value *string `json:"value"`
			} `json:"values"`
		} `json:"state"`
	} `json:"view"`
}

// slackCast is what one interaction asks for, parsed and checked.
type slackCast struct {
	delivery  string // unique per press or submission: a replay is a duplicate
	team      string
	user      string
	key       gatekeeper.PullKey
	head      string // the head the pressed button's message was about, "" when it named none
	kind      string // "go", "nogo", or "ask" (NOGO pressed: ask for a reason)
	reason    string
	triggerID string
	respond   string
}

// checkSlackSignature checks X-Slack-Signature ("v0=" and the hex
// HMAC-SHA256 of "v0:<timestamp>:<body>" under secret) in constant time,
// and refuses a timestamp more than SlackMaxAge from now either way. Every
// failure wraps gatekeeper.ErrUnauthorized.
func checkSlackSignature(secret []byte, timestamp, signature string, body []byte, now time.Time) error {
	if len(secret) == 0 {
		return fmt.Errorf("no Slack signing secret is configured: %w", gatekeeper.ErrUnauthorized)
	}
	if timestamp == "" || signature == "" {
		return fmt.Errorf("%s and %s are required: %w", headerSlackTimestamp, headerSlackSignature, gatekeeper.ErrUnauthorized)
	}
	secs, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil || secs <= 0 {
		return fmt.Errorf("%s is not a number of seconds: %w", headerSlackTimestamp, gatekeeper.ErrUnauthorized)
	}
	// Compare in seconds, so that no timestamp overflows a Duration.
	if age := now.Unix() - secs; age > int64(SlackMaxAge/time.Second) || age < -int64(SlackMaxAge/time.Second) {
		return fmt.Errorf("%s is %d seconds from now, more than %s: %w", headerSlackTimestamp, age, SlackMaxAge, gatekeeper.ErrUnauthorized)
	}
	hexMAC, ok := strings.CutPrefix(signature, slackSignatureV0)
	if !ok {
		return fmt.Errorf("%s is not a v0 signature: %w", headerSlackSignature, gatekeeper.ErrUnauthorized)
	}
	got, err := hex.DecodeString(hexMAC)
	if err != nil || len(got) != sha256.Size {
		return fmt.Errorf("%s is not a hex HMAC-SHA256: %w", headerSlackSignature, gatekeeper.ErrUnauthorized)
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("v0:" + timestamp + ":"))
	mac.Write(body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return fmt.Errorf("%s does not match the body: %w", headerSlackSignature, gatekeeper.ErrUnauthorized)
	}
	return nil
}

// parseSlackInteraction reads a verified interaction body
// (application/x-www-form-urlencoded, payload=<JSON>). ok is false for an
// interaction that is not a GO/NOGO (another button, a modal closed):
// answered 200 and ignored. A malformed one wraps gatekeeper.ErrInvalid.
func parseSlackInteraction(body []byte) (c slackCast, ok bool, err error) {
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return c, false, fmt.Errorf("%w: the body is not form-encoded", gatekeeper.ErrInvalid)
	}
	raw := form.Get("payload")
	if raw == "" {
		return c, false, fmt.Errorf("%w: the body has no payload", gatekeeper.ErrInvalid)
	}
	var in slackInteraction
	if err := json.Unmarshal([]byte(raw), &in); err != nil {
		return c, false, fmt.Errorf("%w: the payload is not a Slack interaction", gatekeeper.ErrInvalid)
	}
	c.team, c.user, c.triggerID, c.respond = in.Team.ID, in.User.ID, in.TriggerID, in.ResponseURL
	if c.team == "" {
		c.team = in.User.TeamID
	}
	if c.user == "" {
		return c, false, fmt.Errorf("%w: the interaction names no user", gatekeeper.ErrInvalid)
	}
	var key string
	switch in.Type {
	case "block_actions":
		if len(in.Actions) == 0 {
			return c, false, nil
		}
		a := in.Actions[0]
		switch a.ActionID {
		case gatekeeper.SlackActionGo:
			c.kind = "go"
		case gatekeeper.SlackActionNogo:
			c.kind = "ask"
		default:
			return c, false, nil // the Details link button, or another app's
		}
		if a.ActionTS == "" {
			return c, false, fmt.Errorf("%w: the button press has no action_ts", gatekeeper.ErrInvalid)
		}
		c.key, c.head, err = gatekeeper.ParseSlackButtonValue(a.Value)
		if err != nil {
			return c, false, fmt.Errorf("%w: the button names no pull request", gatekeeper.ErrInvalid)
		}
		c.delivery = "slack:" + c.team + ":" + c.user + ":" + a.ActionTS
		return c, true, nil
	case "view_submission":
		if in.View.CallbackID != gatekeeper.SlackNogoCallback {
			return c, false, nil
		}
		if in.View.ID == "" {
			return c, false, fmt.Errorf("%w: the submission names no view", gatekeeper.ErrInvalid)
		}
		c.kind, key = "nogo", in.View.PrivateMetadata
		if v := in.View.State.Values[gatekeeper.SlackReasonBlock][gatekeeper.SlackReasonAction].Value; v != nil {
			c.reason = *v
		}
		c.delivery = "slack:" + c.team + ":view:" + in.View.ID
	default:
		return c, false, nil
	}
	c.key, err = gatekeeper.ParsePullKey(key)
	if err != nil {
		return c, false, fmt.Errorf("%w: the interaction names no pull request", gatekeeper.ErrInvalid)
	}
	return c, true, nil
}

// slack receives one Slack interaction: authenticate, parse, map the
// Slack user, then record the vote (a GO at once; a NOGO once its reason
// is submitted) as a SlackVote the worker echoes on GitHub. Slack waits 3
// seconds for the answer: only the modal is opened within the request.
func (s *server) slack(c *gin.Context) {
	d := &delivery{source: "slack", event: "interaction"}
	code, body, err := s.receiveSlack(c.Request.Context(), c.Writer, c.Request, d)
	if err != nil {
		code, body = httpStatus(err), gin.H{"error": publicSlackError(err)}
		d.result = resultOf(code)
	}
	s.logDelivery(c.Request.Context(), d, code, err)
	s.metrics.Webhook("slack", d.event, d.result)
	if body == nil {
		c.Status(code)
		return
	}
	c.JSON(code, body)
}

// publicSlackError is publicError with the words for Slack's signature.
func publicSlackError(err error) string {
	if httpStatus(err) == http.StatusUnauthorized {
		return "The Slack signature is missing, stale or does not match the body."
	}
	return publicError(err)
}

func (s *server) receiveSlack(ctx context.Context, w http.ResponseWriter, r *http.Request, d *delivery) (int, any, error) {
	o := s.slackOpts
	if r.ContentLength > slackMaxBody {
		return 0, nil, fmt.Errorf("reading body: %d bytes: %w", r.ContentLength, errTooLarge)
	}
	r.Body = http.MaxBytesReader(w, r.Body, slackMaxBody)
	raw, err := readBody(w, r)
	if err != nil {
		return 0, nil, err
	}
	now := time.Now()
	if o.Now != nil {
		now = o.Now()
	}
	if err := checkSlackSignature(o.SigningSecret, r.Header.Get(headerSlackTimestamp), r.Header.Get(headerSlackSignature), raw, now); err != nil {
		return 0, nil, err
	}
	d.verified = true
	cast, ok, err := parseSlackInteraction(raw)
	if err != nil {
		return 0, nil, err
	}
	if !ok {
		d.result = "ignored"
		return http.StatusOK, nil, nil
	}
	d.id, d.event = cast.delivery, "vote"
	d.parsed = gatekeeper.Event{Name: "slack." + cast.kind, Key: cast.key}

	// Who is voting: only the mapping in the policy data says.
	voter, mapped := "", false
	if o.Voter != nil {
		voter, mapped = o.Voter(cast.team, cast.user)
	}
	refuse := func(text string) (int, any, error) {
		d.result = "refused"
		if cast.kind == "nogo" {
			// The modal shows the error beside the reason field.
			return http.StatusOK, gin.H{"response_action": "errors", "errors": gin.H{gatekeeper.SlackReasonBlock: text}}, nil
		}
		s.tell(cast.respond, text)
		return http.StatusOK, nil, nil
	}
	switch {
	case !mapped:
		return refuse("Your Slack account is not mapped to a GitHub login in the release policy (release.slack.users), so your vote cannot count. Ask a release manager to add it, or vote with a /go or /nogo <reason> comment on " + cast.key.String() + ".")
	case !o.Votes:
		return refuse("Votes from Slack need GitHub access (GITHUB_TOKEN) to be recorded on the pull request; vote with a comment on " + cast.key.String() + ".")
	}

	if cast.kind == "ask" {
		if o.OpenReason == nil {
			return refuse("A NOGO needs a reason, and this gatekeeper cannot open Slack forms (no SLACK_BOT_TOKEN): comment /nogo <reason> on " + cast.key.String() + ".")
		}
		// Slack shows an error when the answer takes over 3 seconds,
		// and honours a trigger_id for 3 seconds only.
		openCtx, cancel := context.WithTimeout(ctx, slackOpenTimeout)
		defer cancel()
		if err := o.OpenReason(openCtx, cast.triggerID, cast.key); err != nil {
			return 0, nil, fmt.Errorf("opening the NOGO reason form for %s: %w", cast.key, err)
		}
		d.result = "asked"
		return http.StatusOK, nil, nil
	}

	vote, err := gatekeeper.NewSlackVote(cast.delivery, cast.user, voter, cast.kind, cast.reason, now)
	if err != nil {
		return refuse("A NOGO needs a reason.")
	}
	// A vote on the head the message showed; none named: the head when
	// the press is recorded.
	vote.HeadSHA = cast.head
	out, err := s.svc.Accept(ctx, gatekeeper.Event{
		Delivery: cast.delivery, Name: "slack." + cast.kind, Key: cast.key, SlackVote: &vote,
	})
	if err != nil {
		return 0, nil, err
	}
	d.result = string(out)
	if out == gatekeeper.Ignored {
		return refuse("The release gatekeeper does not gate " + cast.key.String() + ".")
	}
	if out == gatekeeper.Accepted {
		s.tell(cast.respond, fmt.Sprintf("Your %s on %s is recorded as @%s's; it shows on the pull request as a comment in a moment.",
			strings.ToUpper(cast.kind), cast.key, voter))
	}
	if cast.kind == "nogo" {
		return http.StatusOK, gin.H{"response_action": "clear"}, nil
	}
	return http.StatusOK, nil, nil
}

// tell runs SlackOptions.Tell in the background, if both it and a
// response_url are there.
func (s *server) tell(responseURL, text string) {
	if s.slackOpts.Tell == nil || responseURL == "" {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.slackOpts.Tell(ctx, responseURL, text)
	}()
}
