package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/releasegate/gatekeeper/gatekeeper"
	"github.com/releasegate/gatekeeper/gatekeeper/githubapi"
	"github.com/releasegate/gatekeeper/gatekeeper/jenkinsapi"
	"github.com/releasegate/gatekeeper/gatekeeper/opa"
	"github.com/releasegate/gatekeeper/gatekeeper/slackapi"
)

// Config is every setting of `gatekeeper serve`. Each comes from a flag, else
// from the environment, else from its default; secrets come only from the
// environment or from a file named by <NAME>_FILE.
type Config struct {
	Addr          string
	PublicURL     string
	Policies      string
	Store         string
	WebhookSecret string
	JenkinsToken  string
	StatusContext string
	GatedBranches string

	GitHubAPIURL string
	GitHubToken  string
	// A GitHub App instead of GitHubToken: its id and PEM private key.
	GitHubAppID         string
	GitHubAppPrivateKey string

	// Sign-in with GitHub for pages and API (see signin.go).
	OAuthClientID     string
	OAuthClientSecret string
	SessionKey        string
	UIAuth            string

	JenkinsURL      string
	JenkinsUser     string
	JenkinsAPIToken string
	JenkinsJobs     string

	ZenHubAPIURL   string
	ZenHubAPIToken string

	SlackWebhookURL string
	// SlackSigningSecret verifies POST /webhooks/slack (the GO/NOGO
	// buttons); SlackBotToken opens the NOGO reason modal; SlackAPIURL
	// is the Web API base.
	SlackSigningSecret string
	SlackBotToken      string
	SlackAPIURL        string

	// GitHubWritesPerMinute paces this replica's content-creating GitHub
	// requests (statuses, reactions, replies); GitHub's secondary limit
	// is about 80 a minute per credential, shared by all replicas.
	GitHubWritesPerMinute int
	// GitHubMaxAge is how long facts read from GitHub stand before a
	// reconcile reads them again (team memberships: twice as long). With
	// conditional requests an unchanged re-read costs no rate limit.
	GitHubMaxAge time.Duration

	Workers      int
	PolicyReload time.Duration
	Reconcile    time.Duration
	// LeaseTTL is how long a replica's lease on a pull request lasts
	// unless renewed: how soon another replica takes over its work.
	LeaseTTL time.Duration
	// GatherTimeout is how long an evaluation waits for one evidence
	// source before it goes on without its answer.
	GatherTimeout time.Duration
	// PublishTimeout bounds one status post with its retries; PostsPerRepo
	// is how many posts to one repository may be in flight at once.
	PublishTimeout time.Duration
	PostsPerRepo   int
	// EvalTimeout bounds one evaluation unless the policy data says
	// (release.evaluation.timeout); ReloadTimeout bounds loading one
	// policy revision, its tests included.
	EvalTimeout   time.Duration
	ReloadTimeout time.Duration
	LogLevel      string

	// RedisPassword is sent with AUTH to a redis:// or rediss:// store.
	RedisPassword string
	// RedisWaitReplicas is how many replicas every write to Redis waits
	// for (WAIT); 0 waits for none.
	RedisWaitReplicas int

	// GitHubHooks names the repository webhooks whose failed deliveries
	// are redelivered: owner/repo=hook_id, comma-separated. The GitHub
	// App's webhook needs none.
	GitHubHooks string
	// DeliverySweep is how often failed webhook deliveries are looked for
	// and redelivered.
	DeliverySweep time.Duration

	gated    gatekeeper.BranchPairs
	jobRepos jenkinsapi.JobRepos
	hooks    []githubapi.Hook
}

// setting describes one setting: its flag, its environment variable and
// its default. Secrets have no flag.
type setting struct {
	flag, env, def, usage string
	dst                   *string
	secret                bool
}

func (c *Config) settings() []setting {
	return []setting{
		{"addr", "GATEKEEPER_ADDR", ":8080", "listen address", &c.Addr, false},
		{"public-url", "GATEKEEPER_PUBLIC_URL", "http://localhost:8080", "base of the status target_url", &c.PublicURL, false},
		{"policies", "GATEKEEPER_POLICIES", "./policies", "policy folder (Rego + data)", &c.Policies, false},
		{"store", "GATEKEEPER_STORE", "bolt://./data/gatekeeper.db", "store: " + storeForms(), &c.Store, false},
		{"", "REDIS_PASSWORD", "", "Redis AUTH password for a redis:// or rediss:// store", &c.RedisPassword, true},
		{"", "GATEKEEPER_WEBHOOK_SECRET", "", "GitHub webhook secret (HMAC-SHA256), at least 16 characters; required", &c.WebhookSecret, true},
		{"", "GATEKEEPER_JENKINS_TOKEN", "", "token Jenkins sends as Bearer or ?token=", &c.JenkinsToken, true},
		{"status-context", "GATEKEEPER_STATUS_CONTEXT", "release-gate", "commit status context", &c.StatusContext, false},
		{"gated-branches", "GATEKEEPER_GATED_BRANCHES", "staging:master", "gated head:base pairs, comma-separated", &c.GatedBranches, false},
		{"github-api-url", "GITHUB_API_URL", "https://api.github.com/", "GitHub REST base", &c.GitHubAPIURL, false},
		{"", "GITHUB_TOKEN", "", "GitHub token; none (and no GitHub App) means dry run", &c.GitHubToken, true},
		{"github-hooks", "GATEKEEPER_GITHUB_HOOKS", "", "repository webhooks whose failed deliveries are redelivered, owner/repo=hook_id, comma-separated (a GitHub App's webhook needs none)", &c.GitHubHooks, false},
		{"github-app-id", "GITHUB_APP_ID", "", "GitHub App id: act as the App's installations instead of GITHUB_TOKEN", &c.GitHubAppID, false},
		{"", "GITHUB_APP_PRIVATE_KEY", "", "GitHub App private key (PEM), with GITHUB_APP_ID", &c.GitHubAppPrivateKey, true},
		{"github-oauth-client-id", "GITHUB_OAUTH_CLIENT_ID", "", "GitHub OAuth client id: sign-in for pages and API", &c.OAuthClientID, false},
		{"", "GITHUB_OAUTH_CLIENT_SECRET", "", "GitHub OAuth client secret", &c.OAuthClientSecret, true},
		{"", "GATEKEEPER_SESSION_KEY", "", "key sealing the sign-in cookies (at least 32 characters)", &c.SessionKey, true},
		{"ui-auth", "GATEKEEPER_UI_AUTH", "github", "who reads pages and API: github, or none behind an authenticating proxy", &c.UIAuth, false},
		{"jenkins-url", "JENKINS_URL", "", "Jenkins base URL for enrichment", &c.JenkinsURL, false},
		{"jenkins-user", "JENKINS_USER", "", "Jenkins user", &c.JenkinsUser, false},
		{"", "JENKINS_API_TOKEN", "", "Jenkins API token", &c.JenkinsAPIToken, true},
		{"jenkins-jobs", "GATEKEEPER_JENKINS_JOBS", "", "folder/path=owner/repo pairs, comma-separated", &c.JenkinsJobs, false},
		{"zenhub-api-url", "ZENHUB_API_URL", "", "ZenHub API base URL", &c.ZenHubAPIURL, false},
		{"", "ZENHUB_API_TOKEN", "", "ZenHub API token", &c.ZenHubAPIToken, true},
		{"", "SLACK_WEBHOOK_URL", "", "Slack incoming webhook for #production", &c.SlackWebhookURL, true},
		{"", "SLACK_SIGNING_SECRET", "", "Slack app signing secret: enables the GO/NOGO buttons (POST /webhooks/slack)", &c.SlackSigningSecret, true},
		{"", "SLACK_BOT_TOKEN", "", "Slack bot token (xoxb-…): opens the NOGO reason form", &c.SlackBotToken, true},
		{"slack-api-url", "SLACK_API_URL", "https://slack.com/api/", "Slack Web API base", &c.SlackAPIURL, false},
		{"log-level", "GATEKEEPER_LOG_LEVEL", "info", "debug, info, warn or error", &c.LogLevel, false},
	}
}

// LoadConfig reads flags from args, then the environment (through getenv)
// and secret files, and validates the result. The error lists every
// problem at once.
//
// Help (-h, --help, or a lone "help") is flag.ErrHelp; serveUsage prints it.
func LoadConfig(args []string, getenv func(string) string) (*Config, error) {
	c := &Config{}
	fs := c.flagSet()
	set := c.settings()
	if err := fs.Parse(args); err != nil {
		return nil, err // the error says what was wrong; the caller prints it
	}
	if fs.NArg() == 1 && fs.Arg(0) == "help" {
		return nil, flag.ErrHelp
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}

	var problems []error
	for _, s := range set {
		if *s.dst != "" {
			continue // a flag beats the environment
		}
		v := getenv(s.env)
		if s.secret {
			if file := getenv(s.env + "_FILE"); file != "" && v == "" {
				b, err := os.ReadFile(file)
				if err != nil {
					problems = append(problems, fmt.Errorf("%s_FILE: %w", s.env, err))
				}
				v = strings.TrimSpace(string(b))
			}
		}
		if v == "" {
			v = s.def
		}
		*s.dst = v
	}
	problems = append(problems, envDuration(getenv, "GATEKEEPER_POLICY_RELOAD", &c.PolicyReload, 5*time.Second)...)
	problems = append(problems, envDuration(getenv, "GATEKEEPER_RECONCILE", &c.Reconcile, time.Minute)...)
	problems = append(problems, envDuration(getenv, "GATEKEEPER_GITHUB_MAX_AGE", &c.GitHubMaxAge, githubapi.DefaultMaxAge)...)
	problems = append(problems, envDuration(getenv, "GATEKEEPER_DELIVERY_SWEEP", &c.DeliverySweep, defaultDeliverySweep)...)
	problems = append(problems, envDuration(getenv, "GATEKEEPER_LEASE_TTL", &c.LeaseTTL, gatekeeper.DefaultLeaseTTL)...)
	problems = append(problems, envDuration(getenv, "GATEKEEPER_GATHER_TIMEOUT", &c.GatherTimeout, gatekeeper.DefaultGatherTimeout)...)
	problems = append(problems, envDuration(getenv, "GATEKEEPER_PUBLISH_TIMEOUT", &c.PublishTimeout, gatekeeper.DefaultPublishTimeout)...)
	problems = append(problems, envDuration(getenv, "GATEKEEPER_EVAL_TIMEOUT", &c.EvalTimeout, opa.DefaultEvalTimeout)...)
	problems = append(problems, envDuration(getenv, "GATEKEEPER_POLICY_RELOAD_TIMEOUT", &c.ReloadTimeout, opa.DefaultReloadTimeout)...)
	replicasFlag := false
	fs.Visit(func(f *flag.Flag) { replicasFlag = replicasFlag || f.Name == "redis-wait-replicas" })
	if !replicasFlag {
		if v := getenv("GATEKEEPER_REDIS_WAIT_REPLICAS"); v != "" {
			if _, err := fmt.Sscan(v, &c.RedisWaitReplicas); err != nil {
				problems = append(problems, fmt.Errorf("GATEKEEPER_REDIS_WAIT_REPLICAS: %q is not a number", v))
			}
		}
	}
	if c.GitHubWritesPerMinute == 0 {
		c.GitHubWritesPerMinute = 60
		if v := getenv("GATEKEEPER_GITHUB_WRITES_PER_MINUTE"); v != "" {
			if _, err := fmt.Sscan(v, &c.GitHubWritesPerMinute); err != nil {
				problems = append(problems, fmt.Errorf("GATEKEEPER_GITHUB_WRITES_PER_MINUTE: %q is not a number", v))
			}
		}
	}
	if c.PostsPerRepo == 0 {
		if v := getenv("GATEKEEPER_POSTS_PER_REPO"); v != "" {
			if _, err := fmt.Sscan(v, &c.PostsPerRepo); err != nil {
				problems = append(problems, fmt.Errorf("GATEKEEPER_POSTS_PER_REPO: %q is not a number", v))
			}
		} else {
			c.PostsPerRepo = gatekeeper.DefaultPostsPerRepo
		}
	}
	if c.Workers == 0 {
		if v := getenv("GATEKEEPER_WORKERS"); v != "" {
			if _, err := fmt.Sscan(v, &c.Workers); err != nil {
				problems = append(problems, fmt.Errorf("GATEKEEPER_WORKERS: %q is not a number", v))
			}
		} else {
			c.Workers = 4
		}
	}
	if err := c.Validate(); err != nil {
		problems = append(problems, err)
	}
	if len(problems) > 0 {
		return nil, errors.Join(problems...)
	}
	return c, nil
}

// flagSet binds the flags of serve to c. It prints nothing: parse errors
// are returned, and help is printed by serveUsage.
func (c *Config) flagSet() *flag.FlagSet {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	for _, s := range c.settings() {
		if s.flag != "" {
			fs.StringVar(s.dst, s.flag, "", s.usage+" (env "+s.env+", default "+quoteDefault(s.def)+")")
		}
	}
	fs.IntVar(&c.Workers, "workers", 0, "evaluation workers (env GATEKEEPER_WORKERS, default 4)")
	fs.IntVar(&c.PostsPerRepo, "posts-per-repo", 0, "status posts to one repository in flight at once; the others wait in line, and no worker waits for GitHub (env GATEKEEPER_POSTS_PER_REPO, default 2)")
	fs.DurationVar(&c.PublishTimeout, "publish-timeout", 0, "longest one status post may take with its retries before it is tried again later (env GATEKEEPER_PUBLISH_TIMEOUT, default 30s)")
	fs.DurationVar(&c.GitHubMaxAge, "github-max-age", 0, "how long facts read from GitHub stand before a reconcile reads them again; memberships twice as long (env GATEKEEPER_GITHUB_MAX_AGE, default 5m)")
	fs.IntVar(&c.GitHubWritesPerMinute, "github-writes-per-minute", 0, "this replica's pace of GitHub status posts, reactions and replies, at most 80 (env GATEKEEPER_GITHUB_WRITES_PER_MINUTE, default 60)")
	fs.DurationVar(&c.PolicyReload, "policy-reload", 0, "how often the policy folder is checked for changes (env GATEKEEPER_POLICY_RELOAD, default 5s)")
	fs.DurationVar(&c.Reconcile, "reconcile", 0, "how often open pull requests are evaluated again (env GATEKEEPER_RECONCILE, default 1m)")
	fs.DurationVar(&c.DeliverySweep, "delivery-sweep", 0, "how often failed GitHub webhook deliveries are looked for and redelivered (env GATEKEEPER_DELIVERY_SWEEP, default 5m)")
	fs.DurationVar(&c.LeaseTTL, "lease-ttl", 0, "how long a replica's hold on a pull request lasts unless renewed: how soon another replica takes over the work of one that died (env GATEKEEPER_LEASE_TTL, default 10s)")
	fs.DurationVar(&c.GatherTimeout, "gather-timeout", 0, "how long an evaluation waits for one evidence source (GitHub, Jenkins, ZenHub) before it goes on without it; the source's answer is used when it comes (env GATEKEEPER_GATHER_TIMEOUT, default 10s)")
	fs.DurationVar(&c.EvalTimeout, "eval-timeout", 0, "longest one policy evaluation may take, unless release.evaluation.timeout says (env GATEKEEPER_EVAL_TIMEOUT, default 1s)")
	fs.IntVar(&c.RedisWaitReplicas, "redis-wait-replicas", 0, "Redis replicas every write waits for, WAIT n (env GATEKEEPER_REDIS_WAIT_REPLICAS, default 0)")
	fs.DurationVar(&c.ReloadTimeout, "policy-reload-timeout", 0, "longest loading and testing one policy revision may take (env GATEKEEPER_POLICY_RELOAD_TIMEOUT, default 2m)")
	return fs
}

// serveUsage prints the help of serve: the flags, then the settings that
// have no flag (the secrets), then the stores this build can open. All of
// it is generated from settings() and storeKinds(), so that a setting or a
// store added there shows here.
func serveUsage(w io.Writer) {
	c := &Config{}
	fmt.Fprint(w, `usage: gatekeeper serve [flags]

Runs the webhook server. Every flag can instead be set by the environment
variable named beside it; a flag beats the environment.

flags:
`)
	fs := c.flagSet()
	fs.SetOutput(w)
	fs.PrintDefaults()
	fmt.Fprint(w, `
secrets (environment only, never a flag: NAME holds the value, or NAME_FILE
names a file holding it, as Docker and Kubernetes secrets are mounted):
`)
	for _, s := range c.settings() {
		if s.secret {
			fmt.Fprintf(w, "  %s, %s_FILE\n    \t%s\n", s.env, s.env, s.usage)
		}
	}
	fmt.Fprint(w, "\nstores (GATEKEEPER_STORE):\n")
	for _, k := range storeKinds() {
		fmt.Fprintf(w, "  %s\n    \t%s\n", k.form, k.about)
	}
}

// Validate reports every invalid or missing setting.
func (c *Config) Validate() error {
	var p []error
	if c.WebhookSecret == "" {
		p = append(p, errors.New("GATEKEEPER_WEBHOOK_SECRET is required (the GitHub webhook secret)"))
	} else if len(c.WebhookSecret) < 16 {
		p = append(p, errors.New("GATEKEEPER_WEBHOOK_SECRET is shorter than 16 characters"))
	}
	if c.Addr == "" {
		p = append(p, errors.New("GATEKEEPER_ADDR is empty"))
	}
	p = append(p, checkURL("GATEKEEPER_PUBLIC_URL", c.PublicURL, true, false)...)
	p = append(p, checkURL("GITHUB_API_URL", c.GitHubAPIURL, true, false)...)
	p = append(p, c.validateGitHubAuth()...)
	p = append(p, checkURL("JENKINS_URL", c.JenkinsURL, false, false)...)
	p = append(p, checkURL("ZENHUB_API_URL", c.ZenHubAPIURL, false, false)...)
	p = append(p, checkSlackURL(c.SlackWebhookURL)...)
	p = append(p, checkSlackInteractivity(c)...)
	if c.JenkinsURL != "" && (c.JenkinsUser == "") != (c.JenkinsAPIToken == "") {
		p = append(p, errors.New("JENKINS_USER and JENKINS_API_TOKEN must be set together"))
	}
	if c.JenkinsURL != "" && c.JenkinsToken == "" {
		p = append(p, errors.New("GATEKEEPER_JENKINS_TOKEN is required when JENKINS_URL is set: Jenkins must authenticate its notifications"))
	}
	if c.JenkinsJobs != "" {
		repos, err := jenkinsapi.ParseJobRepos(c.JenkinsJobs)
		if err != nil {
			p = append(p, fmt.Errorf("GATEKEEPER_JENKINS_JOBS: %w", err))
		}
		c.jobRepos = repos
	}
	if c.JenkinsToken != "" && len(c.JenkinsToken) < 16 {
		p = append(p, errors.New("GATEKEEPER_JENKINS_TOKEN is shorter than 16 characters"))
	}
	if c.ZenHubAPIURL != "" && c.ZenHubAPIToken == "" {
		p = append(p, errors.New("ZENHUB_API_TOKEN is required when ZENHUB_API_URL is set"))
	}
	if c.Policies == "" {
		p = append(p, errors.New("GATEKEEPER_POLICIES is empty"))
	} else if fi, err := os.Stat(c.Policies); err != nil || !fi.IsDir() {
		p = append(p, fmt.Errorf("GATEKEEPER_POLICIES: %q is not a folder", c.Policies))
	}
	if kind, _, err := parseStore(c.Store); err != nil {
		p = append(p, err)
	} else if kind.scheme == "bolt" && (c.RedisPassword != "" || c.RedisWaitReplicas != 0) {
		p = append(p, errors.New("REDIS_PASSWORD and GATEKEEPER_REDIS_WAIT_REPLICAS need a redis:// or rediss:// GATEKEEPER_STORE"))
	}
	if c.RedisWaitReplicas < 0 || c.RedisWaitReplicas > 16 {
		p = append(p, fmt.Errorf("GATEKEEPER_REDIS_WAIT_REPLICAS: %d is not between 0 and 16", c.RedisWaitReplicas))
	}
	if c.StatusContext == "" {
		p = append(p, errors.New("GATEKEEPER_STATUS_CONTEXT is empty"))
	}
	gated, err := gatekeeper.ParseBranchPairs(c.GatedBranches)
	if err != nil {
		p = append(p, fmt.Errorf("GATEKEEPER_GATED_BRANCHES: %w", err))
	}
	c.gated = gated
	if c.PolicyReload <= 0 {
		p = append(p, fmt.Errorf("GATEKEEPER_POLICY_RELOAD: %s is not a positive duration", c.PolicyReload))
	}
	if c.GitHubWritesPerMinute < 0 || c.GitHubWritesPerMinute > 80 {
		p = append(p, fmt.Errorf("GATEKEEPER_GITHUB_WRITES_PER_MINUTE: %d is not between 1 and 80 (GitHub's secondary limit)", c.GitHubWritesPerMinute))
	}
	if c.Reconcile <= 0 {
		p = append(p, fmt.Errorf("GATEKEEPER_RECONCILE: %s is not a positive duration", c.Reconcile))
	}
	if c.DeliverySweep < 10*time.Second || c.DeliverySweep > 24*time.Hour {
		p = append(p, fmt.Errorf("GATEKEEPER_DELIVERY_SWEEP: %s is not between 10s and 24h", c.DeliverySweep))
	}
	hooks, err := parseHooks(c.GitHubHooks)
	if err != nil {
		p = append(p, fmt.Errorf("GATEKEEPER_GITHUB_HOOKS: %w", err))
	}
	c.hooks = hooks
	if c.LeaseTTL < 500*time.Millisecond || c.LeaseTTL > 10*time.Minute {
		p = append(p, fmt.Errorf("GATEKEEPER_LEASE_TTL: %s is not between 500ms and 10m", c.LeaseTTL))
	}
	if c.GatherTimeout < 100*time.Millisecond || c.GatherTimeout > 5*time.Minute {
		p = append(p, fmt.Errorf("GATEKEEPER_GATHER_TIMEOUT: %s is not between 100ms and 5m", c.GatherTimeout))
	}
	if c.EvalTimeout <= 0 || c.EvalTimeout > time.Minute {
		p = append(p, fmt.Errorf("GATEKEEPER_EVAL_TIMEOUT: %s is not a positive duration of at most 1m", c.EvalTimeout))
	}
	if c.ReloadTimeout <= 0 {
		p = append(p, fmt.Errorf("GATEKEEPER_POLICY_RELOAD_TIMEOUT: %s is not a positive duration", c.ReloadTimeout))
	}
	if c.PostsPerRepo < 1 || c.PostsPerRepo > 20 {
		p = append(p, fmt.Errorf("GATEKEEPER_POSTS_PER_REPO: %d is not between 1 and 20", c.PostsPerRepo))
	}
	if c.PublishTimeout < time.Second || c.PublishTimeout > 5*time.Minute {
		p = append(p, fmt.Errorf("GATEKEEPER_PUBLISH_TIMEOUT: %s is not between 1s and 5m", c.PublishTimeout))
	}
	if c.Workers < 1 || c.Workers > 64 {
		p = append(p, fmt.Errorf("GATEKEEPER_WORKERS: %d is not between 1 and 64", c.Workers))
	}
	p = append(p, c.validateSignIn()...)
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		p = append(p, fmt.Errorf("GATEKEEPER_LOG_LEVEL: %q is not debug, info, warn or error", c.LogLevel))
	}
	return errors.Join(p...)
}

// validateGitHubAuth checks the GitHub credentials: a token, a GitHub App
// (GITHUB_APP_ID with GITHUB_APP_PRIVATE_KEY), or neither for a dry run;
// never both. The key is never quoted.
func (c *Config) validateGitHubAuth() []error {
	var p []error
	if c.GitHubToken != "" && (c.GitHubAppID != "" || c.GitHubAppPrivateKey != "") {
		p = append(p, errors.New("GITHUB_TOKEN and a GitHub App (GITHUB_APP_ID, GITHUB_APP_PRIVATE_KEY) are both set: set one"))
	}
	switch {
	case c.GitHubAppID == "" && c.GitHubAppPrivateKey != "":
		p = append(p, errors.New("GITHUB_APP_ID is required with GITHUB_APP_PRIVATE_KEY"))
	case c.GitHubAppID != "" && c.GitHubAppPrivateKey == "":
		p = append(p, errors.New("GITHUB_APP_PRIVATE_KEY (or GITHUB_APP_PRIVATE_KEY_FILE) is required with GITHUB_APP_ID"))
	}
	if c.GitHubAppID != "" {
		if id, err := strconv.ParseInt(c.GitHubAppID, 10, 64); err != nil || id <= 0 {
			p = append(p, fmt.Errorf("GITHUB_APP_ID: %q is not a GitHub App id (a positive number)", c.GitHubAppID))
		}
	}
	if c.GitHubAppPrivateKey != "" {
		if err := githubapi.CheckAppKey(c.appKey()); err != nil {
			p = append(p, fmt.Errorf("GITHUB_APP_PRIVATE_KEY: %w", err))
		}
	}
	return p
}

// appKey is GITHUB_APP_PRIVATE_KEY as PEM bytes. A key pasted into one
// line with its line breaks written as \n (as some secret stores and
// .env files hold it) is restored.
func (c *Config) appKey() []byte {
	k := c.GitHubAppPrivateKey
	if !strings.Contains(k, "\n") {
		k = strings.ReplaceAll(k, `\n`, "\n")
	}
	return []byte(k)
}

// githubApp returns the GitHub App settings, nil when none is set.
func (c *Config) githubApp() *githubapi.App {
	if c.GitHubAppID == "" {
		return nil
	}
	id, _ := strconv.ParseInt(c.GitHubAppID, 10, 64) // checked by Validate
	return &githubapi.App{ID: id, PrivateKey: c.appKey()}
}

// githubAuth reports whether GitHub credentials are set: without them the
// gatekeeper runs dry, reading nothing from GitHub and posting nothing.
func (c *Config) githubAuth() bool { return c.GitHubToken != "" || c.GitHubAppID != "" }

// parseStore finds the store kind GATEKEEPER_STORE names, and the rest of
// the setting after its scheme.
func parseStore(s string) (kind storeKind, rest string, err error) {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok || rest == "" {
		return storeKind{}, "", fmt.Errorf("GATEKEEPER_STORE: %q is not %s", s, storeForms())
	}
	for _, k := range storeKinds() {
		if k.scheme != scheme {
			continue
		}
		if k.check != nil {
			if err := k.check(s); err != nil {
				return storeKind{}, "", fmt.Errorf("GATEKEEPER_STORE: %w", err)
			}
		}
		return k, rest, nil
	}
	return storeKind{}, "", fmt.Errorf("GATEKEEPER_STORE: this build has no %q store; it has %s", scheme, storeForms())
}

// checkURL checks an http(s) URL setting; a secret URL (Slack's carries
// its token) is shown redacted.
func checkURL(name, v string, required, secret bool) []error {
	if v == "" {
		if required {
			return []error{fmt.Errorf("%s is required", name)}
		}
		return nil
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		shown := v
		if secret {
			shown = redactURL(v)
		}
		return []error{fmt.Errorf("%s: %q is not an http(s) URL", name, shown)}
	}
	return nil
}

// checkSlackURL checks SLACK_WEBHOOK_URL by the notifier's own rule
// (slackapi.New): https, or http to 127.0.0.1 for a test server, and no
// user information. The URL holds Slack's token: errors show its host only.
func checkSlackURL(v string) []error {
	if p := checkURL("SLACK_WEBHOOK_URL", v, false, true); p != nil || v == "" {
		return p
	}
	u, _ := url.Parse(v) // parsed by checkURL
	switch {
	case u.User != nil:
		return []error{fmt.Errorf("SLACK_WEBHOOK_URL: %q carries a user name or password; Slack's webhook URLs have none", redactURL(v))}
	case u.Scheme == "http" && u.Hostname() != "127.0.0.1":
		return []error{fmt.Errorf("SLACK_WEBHOOK_URL: %q is plain http; Slack's webhook URLs are https (http is only for a test server on 127.0.0.1)", redactURL(v))}
	}
	return nil
}

// redactURL hides everything after the host, since some URLs (Slack's)
// are themselves secrets.
func redactURL(v string) string {
	if u, err := url.Parse(v); err == nil && u.Host != "" {
		return u.Scheme + "://" + u.Host + "/…"
	}
	return "…"
}

func envDuration(getenv func(string) string, name string, dst *time.Duration, def time.Duration) []error {
	if *dst != 0 {
		return nil
	}
	v := getenv(name)
	if v == "" {
		*dst = def
		return nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		*dst = def // reported here; Validate need not report it again
		return []error{fmt.Errorf("%s: %q is not a positive duration", name, v)}
	}
	*dst = d
	return nil
}

func quoteDefault(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// checkSlackInteractivity checks the settings of the GO/NOGO buttons: the
// Web API base by the Slack client's own rule, and a signing secret long
// enough to be Slack's (32 hex characters).
func checkSlackInteractivity(c *Config) []error {
	var p []error
	if c.SlackSigningSecret != "" && len(c.SlackSigningSecret) < 16 {
		p = append(p, errors.New("SLACK_SIGNING_SECRET is shorter than 16 characters; Slack's has 32"))
	}
	if c.SlackBotToken != "" && c.SlackSigningSecret == "" {
		p = append(p, errors.New("SLACK_BOT_TOKEN is set without SLACK_SIGNING_SECRET: the NOGO form it opens could not be received"))
	}
	if c.SlackAPIURL != "" {
		if _, err := slackapi.NewInteractor(slackapi.InteractOptions{APIURL: c.SlackAPIURL}); err != nil {
			p = append(p, fmt.Errorf("SLACK_API_URL: %s is not https (http is only for a test server on 127.0.0.1)", redactURL(c.SlackAPIURL)))
		}
	}
	return p
}

// defaultDeliverySweep is how often failed webhook deliveries are swept
// unless GATEKEEPER_DELIVERY_SWEEP says: GitHub keeps them for 3 days, and
// a missed event waits at most this long plus an evaluation.
const defaultDeliverySweep = 5 * time.Minute

// parseHooks parses GATEKEEPER_GITHUB_HOOKS: owner/repo=hook_id,...
func parseHooks(s string) ([]githubapi.Hook, error) {
	var out []githubapi.Hook
	seen := map[string]bool{}
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		repo, id, ok := strings.Cut(item, "=")
		owner, name, ok2 := strings.Cut(strings.TrimSpace(repo), "/")
		n, err := strconv.ParseInt(strings.TrimSpace(id), 10, 64)
		if !ok || !ok2 || owner == "" || name == "" || strings.Contains(name, "/") || err != nil || n <= 0 {
			return nil, fmt.Errorf("%w: %q is not owner/repo=hook_id", gatekeeper.ErrInvalid, item)
		}
		h := githubapi.Hook{Owner: owner, Repo: name, ID: n}
		if seen[h.String()] {
			continue
		}
		seen[h.String()] = true
		out = append(out, h)
	}
	return out, nil
}
