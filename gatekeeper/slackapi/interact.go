package slackapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// DefaultAPIURL is Slack's Web API base.
const DefaultAPIURL = "https://slack.com/api/"

// ErrAPI is wrapped by the error of a Web API call Slack answered with
// "ok": false; the error names Slack's error code.
var ErrAPI = errors.New("slack API error")

// InteractOptions configure an Interactor. BotToken is needed to open the
// NOGO reason modal (views.open); without it Interactor answers through
// the response_url only.
type InteractOptions struct {
	// APIURL is the Web API base (SLACK_API_URL, default DefaultAPIURL):
	// https, or http://127.0.0.1 for tests.
	APIURL string
	// BotToken is SLACK_BOT_TOKEN (xoxb-…), a secret never logged.
	BotToken string
	// ResponseHosts are the hosts a response_url may name (default
	// hooks.slack.com); a response_url elsewhere is not posted to, since
	// the gatekeeper must not be made to post to any host a payload names.
	ResponseHosts []string
	HTTPClient    *http.Client
	Logger        *slog.Logger
}

// Interactor answers Slack interactions: it opens the NOGO reason modal
// and tells a user, ephemerally, what became of a button press.
type Interactor struct {
	api    *url.URL
	token  string
	hosts  map[string]bool
	http   *http.Client
	log    *slog.Logger
	secure bool // only https response_urls
}

// NewInteractor checks opts and returns an Interactor.
func NewInteractor(opts InteractOptions) (*Interactor, error) {
	raw := opts.APIURL
	if raw == "" {
		raw = DefaultAPIURL
	}
	if _, err := checkWebhookURL(raw); err != nil {
		return nil, fmt.Errorf("SLACK_API_URL: %w", err)
	}
	u, _ := url.Parse(raw)
	host := u.Hostname()
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	in := &Interactor{api: u, token: opts.BotToken, hosts: map[string]bool{}, http: opts.HTTPClient, log: opts.Logger,
		secure: u.Scheme == "https"}
	hosts := opts.ResponseHosts
	if len(hosts) == 0 {
		hosts = []string{"hooks.slack.com"}
		if !in.secure {
			hosts = append(hosts, host) // the test server
		}
	}
	for _, h := range hosts {
		in.hosts[strings.ToLower(h)] = true
	}
	if in.http == nil {
		in.http = &http.Client{Timeout: DefaultTimeout}
	}
	if in.log == nil {
		in.log = slog.New(slog.DiscardHandler)
	}
	return in, nil
}

// CanAsk reports whether the NOGO reason modal can be opened (a bot token
// is configured).
func (in *Interactor) CanAsk() bool { return in.token != "" }

// OpenReason opens the NOGO reason modal for key with the trigger_id of the
// button press (views.open; Slack honours a trigger_id for 3 seconds).
func (in *Interactor) OpenReason(ctx context.Context, triggerID string, key gatekeeper.PullKey) error {
	if in.token == "" {
		return fmt.Errorf("opening the NOGO form: %w: no SLACK_BOT_TOKEN", gatekeeper.ErrInvalid)
	}
	if triggerID == "" {
		return fmt.Errorf("opening the NOGO form: %w: no trigger_id", gatekeeper.ErrInvalid)
	}
	body, err := json.Marshal(map[string]any{"trigger_id": triggerID, "view": reasonModal(key)})
	if err != nil {
		return err
	}
	return in.call(ctx, "views.open", body)
}

// reasonModal is the NOGO reason form: one required multi-line input.
func reasonModal(key gatekeeper.PullKey) map[string]any {
	title := escape(key.String(), 150)
	return map[string]any{
		"type":             "modal",
		"callback_id":      gatekeeper.SlackNogoCallback,
		"private_metadata": key.String(),
		"title":            map[string]any{"type": "plain_text", "text": "NOGO"},
		"submit":           map[string]any{"type": "plain_text", "text": "Vote NOGO"},
		"close":            map[string]any{"type": "plain_text", "text": "Cancel"},
		"blocks": []any{
			map[string]any{"type": "section", "text": map[string]any{"type": "mrkdwn",
				"text": "Your NOGO on *" + title + "* is posted on the pull request as a comment, with this reason, and holds the release until you take it back."}},
			map[string]any{
				"type": "input", "block_id": gatekeeper.SlackReasonBlock,
				"label": map[string]any{"type": "plain_text", "text": "Reason"},
				"element": map[string]any{"type": "plain_text_input", "action_id": gatekeeper.SlackReasonAction,
					"multiline": true, "max_length": 280},
			},
		},
	}
}

// call POSTs a Web API method and checks Slack's {"ok": …} answer.
func (in *Interactor) call(ctx context.Context, method string, body []byte) error {
	u := in.api.ResolveReference(&url.URL{Path: method})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("calling slack %s: %w", method, redact(err))
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("Authorization", "Bearer "+in.token)
	resp, err := in.http.Do(req)
	if err != nil {
		return fmt.Errorf("calling slack %s: %w", method, redact(err))
	}
	defer resp.Body.Close()
	var answer struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("calling slack %s: %w: HTTP %d %s", method, ErrAPI, resp.StatusCode, reason(b))
	}
	if err := json.Unmarshal(b, &answer); err != nil || !answer.OK {
		code := answer.Error
		if code == "" {
			code = reason(b)
		}
		return fmt.Errorf("calling slack %s: %w: %s", method, ErrAPI, code)
	}
	return nil
}

// Tell posts text, ephemerally, to the user behind a response_url. It only
// logs failures: the answer to the press was given already.
func (in *Interactor) Tell(ctx context.Context, responseURL, text string) {
	u, err := url.Parse(responseURL)
	if err != nil || !in.hosts[strings.ToLower(u.Hostname())] || (in.secure && u.Scheme != "https") {
		in.log.WarnContext(ctx, "not answering on a response_url outside Slack")
		return
	}
	body, _ := json.Marshal(map[string]any{"response_type": "ephemeral", "replace_original": false, "text": escape(text, 2000)})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, responseURL, bytes.NewReader(body))
	if err != nil {
		return
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := in.http.Do(req)
	if err != nil {
		in.log.WarnContext(ctx, "answering a Slack button press", "err", redact(err).Error())
		return
	}
	_ = resp.Body.Close()
}
