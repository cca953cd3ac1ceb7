package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/releasegate/gatekeeper/gatekeeper"
	"github.com/releasegate/gatekeeper/gatekeeper/opa"
	"github.com/releasegate/gatekeeper/gatekeeper/slackapi"
	"github.com/releasegate/gatekeeper/webhooks"
)

// slackOptions wires POST /webhooks/slack: the signing secret, the
// Slack-user-to-GitHub-login mapping of the policy data in force
// (release.slack.users, read at every press), the NOGO reason form when a
// bot token is set, and whether votes can be echoed on GitHub (a token).
func slackOptions(cfg *Config, engine *opa.Engine, log *slog.Logger) (webhooks.SlackOptions, error) {
	o := webhooks.SlackOptions{
		SigningSecret: []byte(cfg.SlackSigningSecret),
		Voter: func(team, user string) (string, bool) {
			s := engine.Settings().Slack
			if s.Team != "" && s.Team != team {
				return "", false
			}
			return s.Voter(user)
		},
		Votes: cfg.githubAuth(),
	}
	if cfg.SlackSigningSecret == "" {
		return o, nil
	}
	in, err := slackapi.NewInteractor(slackapi.InteractOptions{APIURL: cfg.SlackAPIURL, BotToken: cfg.SlackBotToken, Logger: log})
	if err != nil {
		return o, err
	}
	o.Tell = in.Tell
	if in.CanAsk() {
		o.OpenReason = in.OpenReason
	} else {
		log.Warn("no SLACK_BOT_TOKEN: the NOGO button cannot ask for a reason, and asks for a /nogo <reason> comment instead")
	}
	if !o.Votes {
		log.Warn("no GITHUB_TOKEN nor GitHub App: GO/NOGO buttons are answered, but votes from Slack cannot be recorded on the pull request and do not count")
	}
	return o, nil
}

// runSummaries posts the daily Go/NoGo summary to the Slack webhook at
// release.slack.summary_at (default release.window.go_nogo) in the
// window's time zone, once a day across replicas (claimed in the store).
func runSummaries(ctx context.Context, sn *slackapi.Notifier, engine *opa.Engine, svc *gatekeeper.Service, log *slog.Logger) {
	slackapi.RunSummaries(ctx, slackapi.SummaryOptions{
		Due: func(now time.Time) (time.Time, string, bool) {
			s := engine.Settings()
			at, ok := s.Summary(now)
			zone := s.Window.ZoneLabel
			if zone == "" {
				zone = at.Location().String()
			}
			return at, zone, ok
		},
		Claim:  svc.Claim,
		Rows:   svc.Summary,
		Post:   sn.PostSummary,
		Logger: log,
	})
}
