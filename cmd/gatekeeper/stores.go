package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/releasegate/gatekeeper/gatekeeper"
	"github.com/releasegate/gatekeeper/gatekeeper/boltstore"
	"github.com/releasegate/gatekeeper/gatekeeper/redisstore"
)

// closingStore is a Store that serve closes at shutdown.
type closingStore interface {
	gatekeeper.Store
	Close() error
}

// storeKind is one GATEKEEPER_STORE scheme this build can open.
type storeKind struct {
	scheme string // before "://"
	form   string // how the setting is written, for help and errors
	about  string // one line for serve's help
	// check, when set, checks the whole setting without opening the
	// store. Its error never repeats the setting: a URL may carry a
	// password.
	check func(setting string) error
	open  func(ctx context.Context, cfg *Config, rest string) (closingStore, error)
}

// storeKinds lists the stores this build can open, in the order help shows
// them. parseStore, serve's help and the settings errors all read this
// list: a store is offered exactly when it is here.
func storeKinds() []storeKind {
	return []storeKind{
		{
			scheme: "bolt", form: "bolt://path",
			about: "an embedded bbolt file (the default)",
			open: func(_ context.Context, _ *Config, path string) (closingStore, error) {
				s, err := boltstore.Open(path)
				if err != nil {
					return nil, err
				}
				return s, nil
			},
		},
		{
			scheme: "redis", form: "redis://host:port/db",
			about: "a Redis server that several replicas share (REDIS_PASSWORD for AUTH)",
			check: redisstore.CheckURL, open: openRedis,
		},
		{
			scheme: "rediss", form: "rediss://host:port/db",
			about: "the same over TLS",
			check: redisstore.CheckURL, open: openRedis,
		},
	}
}

// openRedis opens the Redis store the whole GATEKEEPER_STORE URL names,
// with REDIS_PASSWORD and GATEKEEPER_REDIS_WAIT_REPLICAS. A Redis that does
// not answer within 10 s stops the start.
func openRedis(ctx context.Context, cfg *Config, _ string) (closingStore, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	s, err := redisstore.Open(ctx, cfg.Store,
		redisstore.WithPassword(cfg.RedisPassword),
		redisstore.WithWaitReplicas(cfg.RedisWaitReplicas, 0))
	if err != nil {
		return nil, err
	}
	return s, nil
}

// openStore opens the store GATEKEEPER_STORE names.
func openStore(ctx context.Context, cfg *Config) (closingStore, error) {
	kind, rest, err := parseStore(cfg.Store)
	if err != nil {
		return nil, err
	}
	s, err := kind.open(ctx, cfg, rest)
	if err != nil {
		return nil, fmt.Errorf("opening the %s store: %w", kind.scheme, err)
	}
	return s, nil
}

// storeForms is the stores' forms for a sentence: "a://x or b://y".
func storeForms() string {
	kinds := storeKinds()
	forms := make([]string, len(kinds))
	for i, k := range kinds {
		forms[i] = k.form
	}
	return strings.Join(forms, " or ")
}
