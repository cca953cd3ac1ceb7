package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// ErrReplicas is returned by a write that the server made but that fewer
// replicas than WithWaitReplicas asks for acknowledged in time. The write
// is on the primary: a retry of the same delivery is a duplicate. It is not
// promised to survive the loss of the primary.
var ErrReplicas = errors.New("too few Redis replicas acknowledged the write")

// errClosed is returned by Record and Update after Close.
var errClosed = errors.New("store is closed")

// Defaults for the options.
const (
	// DefaultPrefix starts every key; see doc.go.
	DefaultPrefix = "gatekeeper"
	// DefaultMaxBatchSize is how many Records and Updates one group
	// commit takes at most.
	DefaultMaxBatchSize = 1000
	// DefaultWaitTimeout is how long a write waits for replicas when
	// WithWaitReplicas asks for some.
	DefaultWaitTimeout = 2 * time.Second
	// maxAttempts bounds how often a group is read and applied again
	// because another replica wrote the same pull request in between.
	maxAttempts = 100
)

// Store is a gatekeeper.Store on a Redis server. It is safe for concurrent
// use, and any number of Stores (in any number of processes) may share one
// server and prefix.
type Store struct {
	rdb      *redis.Client
	prefix   string // "{prefix}", the hash tag every key starts with
	clock    gatekeeper.Clock
	maxBatch int
	replicas int
	waitFor  time.Duration

	// nonce and tokens make version tokens unique to this process, so a
	// cached evidence is never mistaken for another write of the same
	// version (another replica's, or one a crashed server lost).
	nonce  string
	tokens atomic.Uint64

	// requests carries Records and Updates to commitLoop; stopped is
	// closed when commitLoop has returned. mu guards closed and the sends
	// on requests.
	requests chan *writeReq
	stopped  chan struct{}
	mu       sync.RWMutex
	closed   bool

	cache evidenceCache
}

var _ gatekeeper.Store = (*Store)(nil)

// Option configures Open.
type Option func(*options)

type options struct {
	clock     gatekeeper.Clock
	prefix    string
	password  string
	batchSize int
	replicas  int
	waitFor   time.Duration
}

// WithClock sets the clock that stamps recorded deliveries (the times
// ForgetDeliveries compares against). The default is gatekeeper.SystemClock.
func WithClock(c gatekeeper.Clock) Option { return func(o *options) { o.clock = c } }

// WithPrefix sets what every key starts with (default DefaultPrefix), so
// that several gatekeepers, or tests, can share one database.
func WithPrefix(p string) Option { return func(o *options) { o.prefix = p } }

// WithPassword sets the password sent with AUTH (REDIS_PASSWORD). It wins
// over a password in the URL.
func WithPassword(p string) Option { return func(o *options) { o.password = p } }

// WithMaxBatchSize sets how many writes one group commit takes at most.
func WithMaxBatchSize(n int) Option { return func(o *options) { o.batchSize = n } }

// WithWaitReplicas makes every write wait (Redis WAIT) until n replicas have
// it, for at most timeout (DefaultWaitTimeout when zero); a write that fewer
// replicas acknowledged fails with ErrReplicas. Zero, the default, waits
// for none.
func WithWaitReplicas(n int, timeout time.Duration) Option {
	return func(o *options) { o.replicas, o.waitFor = n, timeout }
}

// CheckURL reports whether raw is a redis:// or rediss:// URL the store can
// open, without connecting. A password in the URL is refused: the URL is
// logged and shown; the password belongs in REDIS_PASSWORD.
func CheckURL(raw string) error {
	_, err := parseURL(raw)
	return err
}

func parseURL(raw string) (*redis.Options, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error repeats the URL, password and all: say less.
		return nil, fmt.Errorf("redis URL: not a URL: %w", gatekeeper.ErrInvalid)
	}
	if u.Scheme != "redis" && u.Scheme != "rediss" {
		return nil, fmt.Errorf("redis URL: scheme %q is not redis or rediss: %w", u.Scheme, gatekeeper.ErrInvalid)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("redis URL: no host: %w", gatekeeper.ErrInvalid)
	}
	if _, ok := u.User.Password(); ok {
		return nil, fmt.Errorf("redis URL: a password in the URL would be logged; set REDIS_PASSWORD or REDIS_PASSWORD_FILE: %w", gatekeeper.ErrInvalid)
	}
	opt, err := redis.ParseURL(raw)
	if err != nil {
		return nil, fmt.Errorf("redis URL: %w: %w", err, gatekeeper.ErrInvalid)
	}
	return opt, nil
}

// Open connects to the Redis server at rawURL (redis://host:port/db, or
// rediss:// for TLS) and checks that it answers.
func Open(ctx context.Context, rawURL string, opts ...Option) (*Store, error) {
	o := options{clock: gatekeeper.SystemClock{}, prefix: DefaultPrefix, batchSize: DefaultMaxBatchSize}
	for _, opt := range opts {
		opt(&o)
	}
	switch {
	case o.prefix == "":
		return nil, fmt.Errorf("opening redis store: empty prefix: %w", gatekeeper.ErrInvalid)
	case o.batchSize <= 0:
		return nil, fmt.Errorf("opening redis store: batch size %d is not positive: %w", o.batchSize, gatekeeper.ErrInvalid)
	case o.replicas < 0:
		return nil, fmt.Errorf("opening redis store: %d replicas to wait for: %w", o.replicas, gatekeeper.ErrInvalid)
	}
	if o.waitFor <= 0 {
		o.waitFor = DefaultWaitTimeout
	}
	ropt, err := parseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("opening redis store: %w", err)
	}
	if o.password != "" {
		ropt.Password = o.password
	}
	// No automatic retries: a write whose reply was lost may have been
	// made, and must not be made twice. commitGroup finds out instead.
	ropt.MaxRetries = -1
	ropt.ContextTimeoutEnabled = true
	if o.replicas > 0 && ropt.ReadTimeout >= 0 && ropt.ReadTimeout < o.waitFor+time.Second {
		// A WAIT must be able to take its whole timeout without the read
		// of its reply timing out first.
		ropt.ReadTimeout = o.waitFor + time.Second
	}
	var nonce [6]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return nil, fmt.Errorf("opening redis store: %w", err)
	}
	s := &Store{
		rdb: redis.NewClient(ropt), prefix: "{" + o.prefix + "}",
		clock: o.clock, maxBatch: o.batchSize, replicas: o.replicas, waitFor: o.waitFor,
		nonce:    hex.EncodeToString(nonce[:]),
		requests: make(chan *writeReq, o.batchSize),
		stopped:  make(chan struct{}),
	}
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		s.rdb.Close()
		return nil, fmt.Errorf("opening redis store at %s: %w", ropt.Addr, err)
	}
	if err := s.buildIndex(ctx); err != nil {
		s.rdb.Close()
		return nil, fmt.Errorf("opening redis store at %s: %w", ropt.Addr, err)
	}
	go s.commitLoop()
	return s, nil
}

// buildIndex indexes the evidence written before the pull request index
// existed (gatekeeper.IndexTerms), once: P:indexed says it was done. Other
// replicas may write meanwhile, and may build it too; the index is only
// ever added to, so whatever order the additions land in, each pull
// request ends under every term its evidence has had.
func (s *Store) buildIndex(ctx context.Context) error {
	done, err := s.rdb.Exists(ctx, s.key("indexed")).Result()
	if err != nil || done == 1 {
		return err
	}
	fields, err := s.rdb.HKeys(ctx, s.key("ver")).Result()
	if err != nil {
		return fmt.Errorf("listing pull requests to index: %w", err)
	}
	for _, f := range fields {
		data, err := s.rdb.Get(ctx, s.key("ev", f)).Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			return fmt.Errorf("loading evidence of %s to index it: %w", f, err)
		}
		ev := &gatekeeper.Evidence{}
		if err := json.Unmarshal([]byte(data), ev); err != nil {
			return fmt.Errorf("decoding evidence of %s to index it: %w", f, err)
		}
		if ev.Key, err = gatekeeper.ParsePullKey(f); err != nil {
			return err
		}
		pipe := s.rdb.Pipeline()
		for _, t := range gatekeeper.IndexTerms(ev) {
			pipe.SAdd(ctx, s.key("idx", t), f)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return fmt.Errorf("indexing %s: %w", f, err)
		}
	}
	return s.rdb.Set(ctx, s.key("indexed"), 1, 0).Err()
}

// key is the name of one of the store's keys.
func (s *Store) key(parts ...string) string {
	k := s.prefix
	for _, p := range parts {
		k += ":" + p
	}
	return k
}

// token is a new version token for version v.
func (s *Store) token(v uint64) string {
	return strconv.FormatUint(v, 10) + ":" + s.nonce + strconv.FormatUint(s.tokens.Add(1), 36)
}

// run runs a write script and, when replicas are asked for, WAIT on the
// same connection (WAIT counts the writes of its own connection only).
func (s *Store) run(ctx context.Context, script *redis.Script, args ...any) (any, error) {
	if s.replicas == 0 {
		return script.Run(ctx, s.rdb, nil, args...).Result()
	}
	var res *redis.Cmd
	var wait *redis.Cmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		res = script.EvalSha(ctx, p, nil, args...)
		wait = p.Do(ctx, "WAIT", s.replicas, s.waitFor.Milliseconds())
		return nil
	})
	if err != nil && redis.HasErrorPrefix(res.Err(), "NOSCRIPT") {
		// The server lost its script cache (a restart): send it whole.
		_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			res = script.Eval(ctx, p, nil, args...)
			wait = p.Do(ctx, "WAIT", s.replicas, s.waitFor.Milliseconds())
			return nil
		})
	}
	if err := res.Err(); err != nil {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("waiting for replicas: %w", err)
	}
	if n, _ := wait.Int64(); n < int64(s.replicas) {
		return res.Val(), fmt.Errorf("%w: %d of %d within %s", ErrReplicas, n, s.replicas, s.waitFor)
	}
	return res.Val(), nil
}

// Ping checks that the server answers and takes a write (a replica, a
// server refusing writes for want of replicas, memory or a failing
// snapshot answers PING all the same): it sets a short-lived key.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("pinging redis store: %w", err)
	}
	if err := s.rdb.Set(ctx, s.key("health"), time.Now().UTC().Format(time.RFC3339Nano), time.Minute).Err(); err != nil {
		return fmt.Errorf("pinging redis store: writing: %w", err)
	}
	return nil
}

// Close commits the writes already accepted and closes the connections.
// Writes after Close fail. Closing twice is harmless.
func (s *Store) Close() error {
	s.mu.Lock()
	first := !s.closed
	if first {
		s.closed = true
		close(s.requests)
	}
	s.mu.Unlock()
	<-s.stopped
	if !first {
		return nil
	}
	if err := s.rdb.Close(); err != nil {
		return fmt.Errorf("closing redis store: %w", err)
	}
	return nil
}
