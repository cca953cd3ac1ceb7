package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"

	"github.com/releasegate/gatekeeper/gatekeeper/githubauth"
	"github.com/releasegate/gatekeeper/webhooks"
)

// minSessionKey is the shortest GATEKEEPER_SESSION_KEY accepted: the key
// seals cookies that carry people's GitHub tokens.
const minSessionKey = 32

// validateSignIn checks the sign-in settings: the three OAuth settings
// together or none of them, a long enough session key, and a known
// GATEKEEPER_UI_AUTH.
func (c *Config) validateSignIn() []error {
	var p, missing []error
	set := 0
	for _, s := range []struct{ name, v string }{
		{"GITHUB_OAUTH_CLIENT_ID", c.OAuthClientID},
		{"GITHUB_OAUTH_CLIENT_SECRET", c.OAuthClientSecret},
		{"GATEKEEPER_SESSION_KEY", c.SessionKey},
	} {
		if s.v != "" {
			set++
		} else {
			missing = append(missing, errors.New(s.name))
		}
	}
	if set > 0 && set < 3 {
		p = append(p, fmt.Errorf("sign-in with GitHub needs GITHUB_OAUTH_CLIENT_ID, GITHUB_OAUTH_CLIENT_SECRET and GATEKEEPER_SESSION_KEY together; missing %s", strings.ReplaceAll(errors.Join(missing...).Error(), "\n", ", ")))
	}
	if c.SessionKey != "" && len(c.SessionKey) < minSessionKey {
		p = append(p, fmt.Errorf("GATEKEEPER_SESSION_KEY is shorter than %d characters (openssl rand -base64 32 makes one)", minSessionKey))
	}
	switch c.UIAuth {
	case "github":
	case "none":
		if set > 0 {
			p = append(p, errors.New("GATEKEEPER_UI_AUTH=none turns sign-in off, but GitHub OAuth settings are set: unset one or the other"))
		}
	default:
		p = append(p, fmt.Errorf("GATEKEEPER_UI_AUTH: %q is not github or none", c.UIAuth))
	}
	return p
}

// signInConfigured says whether the OAuth settings are there.
func (c *Config) signInConfigured() bool {
	return c.OAuthClientID != "" && c.OAuthClientSecret != "" && c.SessionKey != ""
}

// uiAuth decides who reads the pages and the API, from the settings and
// the address actually listened on, and says so in the log at start.
func uiAuth(cfg *Config, ln net.Listener, log *slog.Logger) (webhooks.AuthOptions, error) {
	switch {
	case cfg.UIAuth == "none":
		log.Warn("GATEKEEPER_UI_AUTH=none: pages and API are served to anyone who reaches this address, without sign-in; only run it so behind a proxy that authenticates people",
			"addr", ln.Addr().String())
		return webhooks.AuthOptions{Mode: webhooks.AuthNone}, nil
	case cfg.signInConfigured():
		gh, err := githubauth.New(githubauth.Options{
			ClientID: cfg.OAuthClientID, ClientSecret: cfg.OAuthClientSecret, APIURL: cfg.GitHubAPIURL,
		})
		if err != nil {
			return webhooks.AuthOptions{}, err
		}
		if u, err := url.Parse(cfg.PublicURL); err == nil && u.Scheme != "https" && !localName(u.Hostname()) {
			log.Warn("GATEKEEPER_PUBLIC_URL is not https: sign-in cookies, which carry people's GitHub tokens, are sent unencrypted", "public_url", cfg.PublicURL)
		}
		log.Info("pages and API need sign-in with GitHub", "github", githubauth.WebURLFor(cfg.GitHubAPIURL), "callback", strings.TrimSuffix(cfg.PublicURL, "/")+"/auth/callback")
		return webhooks.AuthOptions{
			Mode: webhooks.AuthGitHub, GitHub: gh, SessionKey: []byte(cfg.SessionKey), PublicURL: cfg.PublicURL,
		}, nil
	}
	loopback := loopbackListener(ln)
	if loopback {
		log.Warn("sign-in is not configured: pages and API are served without sign-in, on this loopback address only",
			"addr", ln.Addr().String())
	} else {
		log.Warn("sign-in is not configured: pages and API answer 401 on this address, webhooks work; set GITHUB_OAUTH_CLIENT_ID, GITHUB_OAUTH_CLIENT_SECRET and GATEKEEPER_SESSION_KEY, or GATEKEEPER_UI_AUTH=none behind an authenticating proxy",
			"addr", ln.Addr().String())
	}
	return webhooks.AuthOptions{Mode: webhooks.AuthLoopback, LoopbackListen: loopback}, nil
}

// loopbackListener reports whether ln listens on a loopback address only:
// the address it actually bound ("localhost:8080" binds 127.0.0.1; ":8080"
// binds every interface, which is not loopback).
func loopbackListener(ln net.Listener) bool {
	a, ok := ln.Addr().(*net.TCPAddr)
	return ok && a.IP.IsLoopback()
}

// localName reports whether host is localhost or a loopback address.
func localName(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
