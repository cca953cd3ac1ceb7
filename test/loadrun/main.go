// Command loadrun measures webhook acknowledgement on loopback: the full
// durable path (signature, parse, bbolt group commit, queue, 202, with the
// workers evaluating the real policy meanwhile) against a bare gin handler
// that only checks the HMAC and decodes the JSON, and, when redis-server is
// installed, the same durable path on the Redis store (a redis-server it
// starts on loopback with appendonly yes, appendfsync always, and stops).
// It sends a bounded number
// of signed recorded payloads to 127.0.0.1 only, prints requests/s and
// latency percentiles for each and their ratio, and stops by itself.
//
//	go run ./test/loadrun -n 20000 -c 32
//
// With -pinned (what `make bench` runs) every target is a server process of
// its own, started through taskset on CPU 0 (its redis-server too), and the
// load generator is this process, which the caller pins to CPU 1:
//
//	go build -o /tmp/loadrun ./test/loadrun && taskset -c 1 /tmp/loadrun -pinned
//
// Each round loads every target in turn; the figures printed are the
// medians over the rounds. -figures appends them, one "name value" a line,
// to a file that test/benchtable turns into the issue 10 table. -profile
// writes each server's CPU profile into a folder; with LOADRUN_TRACE=1 in
// the environment also its runtime trace (TARGET.trace, each request a
// task), for go tool trace: what the servers do is the same either way,
// though tracing slows them down.
package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/releasegate/gatekeeper/gatekeeper"
	"github.com/releasegate/gatekeeper/gatekeeper/boltstore"
	"github.com/releasegate/gatekeeper/gatekeeper/githubapi"
	"github.com/releasegate/gatekeeper/gatekeeper/githubevents"
	"github.com/releasegate/gatekeeper/gatekeeper/opa"
	"github.com/releasegate/gatekeeper/gatekeeper/redisstore"
	"github.com/releasegate/gatekeeper/gatekeeper/redisstore/redistest"
	"github.com/releasegate/gatekeeper/webhooks"
)

const secret = "loadrun-secret-0123456789"

func main() {
	n := flag.Int("n", 20000, "requests per target (bounded)")
	c := flag.Int("c", 32, "concurrent connections")
	maxTime := flag.Duration("max", 60*time.Second, "stop each target after this long, whatever n")
	payload := flag.String("payload", "test/testdata/fixtures/github/pull_request.opened.json", "recorded webhook body")
	policies := flag.String("policies", "policies", "policy folder")
	withRedis := flag.Bool("redis", true, "also measure the durable path on Redis, when redis-server is installed")
	pinned := flag.Bool("pinned", false, "servers as processes pinned to CPU 0 (taskset); run this generator on CPU 1")
	rounds := flag.Int("rounds", 3, "with -pinned: rounds over the targets; medians are printed")
	serve := flag.String("serve", "", "internal: serve one target (bare, bbolt, redis) on loopback until stdin closes")
	figures := flag.String("figures", "", "with -pinned: append the median figures to this file")
	profile := flag.String("profile", "", "with -pinned: write each server's CPU profile into this folder")
	flag.Parse()
	if *serve != "" {
		if err := serveOne(*serve, *policies, *profile); err != nil {
			fmt.Fprintln(os.Stderr, "loadrun:", err)
			os.Exit(1)
		}
		return
	}
	if *pinned {
		if err := runPinned(*n, *c, *rounds, *maxTime, *payload, *policies, *withRedis, *figures, *profile); err != nil {
			fmt.Fprintln(os.Stderr, "loadrun:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(*n, *c, *maxTime, *payload, *policies, *withRedis); err != nil {
		fmt.Fprintln(os.Stderr, "loadrun:", err)
		os.Exit(1)
	}
}

func run(n, c int, maxTime time.Duration, payloadPath, policies string, withRedis bool) error {
	body, err := os.ReadFile(payloadPath)
	if err != nil {
		return err
	}
	gin.SetMode(gin.ReleaseMode)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	bare := bareHandler()
	dir, err := os.MkdirTemp("", "loadrun")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bolt, err := boltstore.Open(filepath.Join(dir, "load.db"))
	if err != nil {
		return err
	}
	durable, cleanup, err := durableHandler(ctx, policies, bolt)
	if err != nil {
		return err
	}
	defer cleanup()
	targets := []struct {
		name string
		h    http.Handler
	}{{"bare gin (HMAC + JSON decode)", bare}, {"durable acknowledgement (bbolt)", durable}}
	if withRedis && redistest.Binary() != "" {
		rdir := filepath.Join(dir, "redis")
		if err := os.Mkdir(rdir, 0o700); err != nil {
			return err
		}
		srv, err := redistest.Launch(rdir)
		if err != nil {
			return err
		}
		defer srv.Stop()
		rs, err := redisstore.Open(ctx, srv.URL(0))
		if err != nil {
			return err
		}
		h, cleanup, err := durableHandler(ctx, policies, rs)
		if err != nil {
			return err
		}
		defer cleanup()
		targets = append(targets, struct {
			name string
			h    http.Handler
		}{"durable acknowledgement (Redis)", h})
	} else if withRedis {
		fmt.Println("(no redis-server installed: the Redis target is left out; bash test/redis.sh installs it)")
	}

	fmt.Printf("loopback load run: %d requests per target, %d connections, payload %s (%d bytes)\n\n", n, c, filepath.Base(payloadPath), len(body))
	fmt.Printf("%-34s %10s %10s %10s %10s\n", "target", "req/s", "p50", "p99", "errors")
	var results []result
	for _, t := range targets {
		r, err := load(t.h, body, n, c, maxTime, "load-")
		if err != nil {
			return err
		}
		r.name = t.name
		results = append(results, r)
		fmt.Printf("%-34s %10.0f %10s %10s %10d\n", r.name, r.rps, r.p50.Round(time.Microsecond), r.p99.Round(time.Microsecond), r.errors)
	}
	fmt.Printf("\nratio durable/bare requests/s: %.2f (target ≥ 0.50)\n", results[1].rps/results[0].rps)
	if len(results) > 2 {
		fmt.Printf("ratio Redis/bbolt requests/s: %.2f\n", results[2].rps/results[1].rps)
	}
	return nil
}

// bareHandler is the floor: what any receiver must do, and nothing more.
func bareHandler() http.Handler {
	r := gin.New()
	r.POST("/webhooks/github", func(c *gin.Context) {
		b, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, 25<<20))
		if err != nil {
			c.Status(http.StatusRequestEntityTooLarge)
			return
		}
		if !hmac.Equal([]byte(c.GetHeader("X-Hub-Signature-256")), []byte(sign(b))) {
			c.Status(http.StatusUnauthorized)
			return
		}
		var v map[string]any
		if err := json.Unmarshal(b, &v); err != nil {
			c.Status(http.StatusBadRequest)
			return
		}
		c.JSON(http.StatusAccepted, gin.H{"result": "accepted"})
	})
	return r
}

// durableHandler is the gatekeeper's own receiver on a real store, with
// the workers evaluating the real policy in dry run meanwhile. The cleanup
// closes the store.
func durableHandler(ctx context.Context, policies string, store gatekeeper.Store) (http.Handler, func(), error) {
	engine, err := opa.Load(ctx, policies)
	if err != nil {
		return nil, nil, err
	}
	log := slog.New(slog.DiscardHandler)
	svc, err := gatekeeper.New(gatekeeper.Options{
		Store: store, Evaluator: engine, Publisher: githubapi.NewDryRun(log), Logger: log,
		Gated: gatekeeper.BranchPairs{{Head: "changes", Base: "master"}}, PublicURL: "http://127.0.0.1",
	})
	if err != nil {
		return nil, nil, err
	}
	h, err := webhooks.New(webhooks.Options{
		Service: svc, ParseGitHub: githubevents.ParseDelivery, WebhookSecret: []byte(secret),
		Logger: log, Metrics: webhooks.NewMetrics(),
	})
	if err != nil {
		return nil, nil, err
	}
	workCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { svc.Run(workCtx); close(done) }()
	return h, func() { stop(); <-done; store.Close() }, nil
}

type result struct {
	name          string
	rps           float64
	p50, p99      time.Duration
	errors, count int
}

// load serves h on 127.0.0.1 and sends it n signed deliveries from c
// connections, each with its own delivery id.
func load(h http.Handler, body []byte, n, c int, maxTime time.Duration, idPrefix string) (result, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return result{}, err
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	defer srv.Close()
	return generate("http://"+ln.Addr().String()+"/webhooks/github", body, n, c, maxTime, idPrefix)
}

// generate sends n signed deliveries to url from c connections, each with
// its own delivery id (idPrefix and a counter).
func generate(url string, body []byte, n, c int, maxTime time.Duration, idPrefix string) (result, error) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: c, MaxConnsPerHost: c}, Timeout: 30 * time.Second}
	sig := sign(body)

	var next, errs atomic.Int64
	lat := make([][]time.Duration, c)
	deadline := time.Now().Add(maxTime)
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < c; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(n) || time.Now().After(deadline) {
					return
				}
				req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("X-GitHub-Event", "pull_request")
				req.Header.Set("X-GitHub-Delivery", fmt.Sprintf("%s%d", idPrefix, i))
				req.Header.Set("X-Hub-Signature-256", sig)
				t := time.Now()
				resp, err := client.Do(req)
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				lat[w] = append(lat[w], time.Since(t))
				if err != nil || resp.StatusCode != http.StatusAccepted {
					errs.Add(1)
				}
			}
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(start)
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	if len(all) == 0 {
		return result{}, fmt.Errorf("no request completed")
	}
	pct := func(p float64) time.Duration { return all[int(float64(len(all)-1)*p)] }
	return result{rps: float64(len(all)) / elapsed.Seconds(), p50: pct(0.50), p99: pct(0.99), errors: int(errs.Load()), count: len(all)}, nil
}

func sign(b []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(b)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}
