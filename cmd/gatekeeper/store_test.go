package main

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/releasegate/gatekeeper/gatekeeper"
	"github.com/releasegate/gatekeeper/gatekeeper/redisstore"
	"github.com/releasegate/gatekeeper/gatekeeper/redisstore/redistest"
)

func TestLoadConfigStore(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "redis-password")
	if err := writeFile(pwFile, "from-a-file\n"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		env         map[string]string
		wantErr     string // "" for none
		notInErr    string
		wantPW      string
		wantReplica int
	}{
		{name: "redis", env: map[string]string{"GATEKEEPER_STORE": "redis://127.0.0.1:6379/2"}},
		{name: "rediss with password and replicas",
			env: map[string]string{"GATEKEEPER_STORE": "rediss://redis.example:6380/0", "REDIS_PASSWORD": "pw",
				"GATEKEEPER_REDIS_WAIT_REPLICAS": "1"},
			wantPW: "pw", wantReplica: 1},
		{name: "password from a file",
			env:    map[string]string{"GATEKEEPER_STORE": "redis://127.0.0.1:6379/0", "REDIS_PASSWORD_FILE": pwFile},
			wantPW: "from-a-file"},
		{name: "password in the URL is refused and not echoed",
			env:     map[string]string{"GATEKEEPER_STORE": "redis://:hunter2-secret@127.0.0.1:6379/0"},
			wantErr: "REDIS_PASSWORD", notInErr: "hunter2-secret"},
		{name: "bad database",
			env:     map[string]string{"GATEKEEPER_STORE": "redis://127.0.0.1:6379/x"},
			wantErr: "GATEKEEPER_STORE"},
		{name: "replicas not a number",
			env:     map[string]string{"GATEKEEPER_STORE": "redis://127.0.0.1:6379/0", "GATEKEEPER_REDIS_WAIT_REPLICAS": "two"},
			wantErr: "GATEKEEPER_REDIS_WAIT_REPLICAS"},
		{name: "negative replicas",
			env:     map[string]string{"GATEKEEPER_STORE": "redis://127.0.0.1:6379/0", "GATEKEEPER_REDIS_WAIT_REPLICAS": "-1"},
			wantErr: "GATEKEEPER_REDIS_WAIT_REPLICAS"},
		{name: "Redis settings without Redis",
			env:     map[string]string{"REDIS_PASSWORD": "pw"},
			wantErr: "need a redis:// or rediss://"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := map[string]string{"GATEKEEPER_WEBHOOK_SECRET": "0123456789abcdef", "GATEKEEPER_POLICIES": dir}
			for k, v := range tt.env {
				e[k] = v
			}
			c, err := LoadConfig(nil, env(e))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one mentioning %q", err, tt.wantErr)
				}
				if tt.notInErr != "" && strings.Contains(err.Error(), tt.notInErr) {
					t.Errorf("the error shows %q: %v", tt.notInErr, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.RedisPassword != tt.wantPW || c.RedisWaitReplicas != tt.wantReplica {
				t.Errorf("password %q, replicas %d; want %q, %d", c.RedisPassword, c.RedisWaitReplicas, tt.wantPW, tt.wantReplica)
			}
		})
	}
}

// TestOpenStoreByScheme: GATEKEEPER_STORE picks the store, and the Redis
// one gets REDIS_PASSWORD.
func TestOpenStoreByScheme(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, "--requirepass", "pw-for-tests")
	tests := []struct {
		name  string
		cfg   Config
		check func(gatekeeper.Store) bool
	}{
		{name: "bolt", cfg: Config{Store: "bolt://" + filepath.Join(t.TempDir(), "g.db")},
			check: func(s gatekeeper.Store) bool { _, ok := s.(*redisstore.Store); return !ok }},
		{name: "redis", cfg: Config{Store: srv.URL(1), RedisPassword: "pw-for-tests"},
			check: func(s gatekeeper.Store) bool { _, ok := s.(*redisstore.Store); return ok }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := openStore(context.Background(), &tt.cfg)
			if err != nil {
				t.Fatalf("openStore(%s): %v", tt.cfg.Store, err)
			}
			defer s.Close()
			if !tt.check(s) {
				t.Errorf("openStore(%s) = %T", tt.cfg.Store, s)
			}
			key := gatekeeper.PullKey{Owner: "acme", Repo: "shop", Number: 1}
			if err := s.Record(context.Background(), "d-1", []gatekeeper.PullKey{key}, func(*gatekeeper.Evidence) {}); err != nil {
				t.Errorf("Record: %v", err)
			}
		})
	}
	_, err := openStore(context.Background(), &Config{Store: srv.URL(1), RedisPassword: "wrong"})
	if err == nil {
		t.Error("openStore with a wrong password succeeded")
	}
	if errors.Is(err, gatekeeper.ErrInvalid) {
		t.Errorf("a refused password reported as a bad setting: %v", err)
	}
}

// TestRedisSettingsInHelpAndFlags: serve's help offers the Redis stores and
// REDIS_PASSWORD, and the flag beats GATEKEEPER_REDIS_WAIT_REPLICAS.
func TestRedisSettingsInHelpAndFlags(t *testing.T) {
	t.Parallel()
	var help strings.Builder
	serveUsage(&help)
	for _, want := range []string{"redis://host:port/db", "rediss://host:port/db", "REDIS_PASSWORD, REDIS_PASSWORD_FILE", "-redis-wait-replicas"} {
		if !strings.Contains(help.String(), want) {
			t.Errorf("serve help does not mention %q:\n%s", want, help.String())
		}
	}
	c, err := LoadConfig([]string{"-redis-wait-replicas", "2"}, env(map[string]string{
		"GATEKEEPER_WEBHOOK_SECRET": "0123456789abcdef", "GATEKEEPER_POLICIES": t.TempDir(),
		"GATEKEEPER_STORE": "redis://127.0.0.1:6379/0", "GATEKEEPER_REDIS_WAIT_REPLICAS": "1",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.RedisWaitReplicas != 2 {
		t.Errorf("replicas %d, want the flag's 2", c.RedisWaitReplicas)
	}
}
