package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"runtime/trace"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/releasegate/gatekeeper/gatekeeper"
	"github.com/releasegate/gatekeeper/gatekeeper/boltstore"
	"github.com/releasegate/gatekeeper/gatekeeper/redisstore"
	"github.com/releasegate/gatekeeper/gatekeeper/redisstore/redistest"
)

// serveOne serves one target on a free loopback port, prints
// "listening ADDR" on stdout, and stops when stdin closes (the generator
// ended, or died) or on SIGTERM/SIGINT; it removes what it created.
func serveOne(target, policies, profile string) error {
	gin.SetMode(gin.ReleaseMode)
	if profile != "" {
		f, err := os.Create(filepath.Join(profile, target+".cpu.pprof"))
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
		if os.Getenv("LOADRUN_TRACE") != "" {
			tf, err := os.Create(filepath.Join(profile, target+".trace"))
			if err != nil {
				return err
			}
			defer tf.Close()
			if err := trace.Start(tf); err != nil {
				return err
			}
			defer trace.Stop()
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir, err := os.MkdirTemp("", "loadrun-"+target)
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	var h http.Handler
	switch target {
	case "bare":
		h = bareHandler()
	case "bbolt", "redis":
		var store gatekeeper.Store
		if target == "bbolt" {
			bolt, err := boltstore.Open(filepath.Join(dir, "load.db"))
			if err != nil {
				return err
			}
			store = bolt
		} else {
			if redistest.Binary() == "" {
				return errors.New("no redis-server installed (bash test/redis.sh installs it)")
			}
			// redis-server inherits this process's CPU: the whole server
			// side shares the one core.
			srv, err := redistest.Launch(dir)
			if err != nil {
				return err
			}
			defer srv.Stop()
			rs, err := redisstore.Open(ctx, srv.URL(0))
			if err != nil {
				return err
			}
			store = rs
		}
		durable, cleanup, err := durableHandler(ctx, policies, store)
		if err != nil {
			return err
		}
		defer cleanup()
		h = durable
	default:
		return fmt.Errorf("unknown target %q (bare, bbolt, redis)", target)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	if profile != "" && os.Getenv("LOADRUN_TRACE") != "" {
		// Each request a task: go tool trace tells the handler's own
		// time from the time a request waited to be read.
		inner := h
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx, task := trace.NewTask(r.Context(), "request")
			defer task.End()
			inner.ServeHTTP(w, r.WithContext(ctx))
		})
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	defer srv.Close()
	fmt.Printf("listening %s\n", ln.Addr())

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	eof := make(chan struct{})
	go func() { io.Copy(io.Discard, os.Stdin); close(eof) }()
	select {
	case <-stop:
	case <-eof:
	}
	return nil
}

// child is one target's server process.
type child struct {
	name, target string
	cmd          *exec.Cmd
	stdin        io.WriteCloser
	url          string
}

// startChild starts `taskset -c 0 <this binary> -serve target` and waits
// for its address.
func startChild(target, policies, profile string) (*child, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("taskset", "-c", "0", self, "-serve", target, "-policies", policies, "-profile", profile)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the %s server (is taskset installed?): %w", target, err)
	}
	c := &child{target: target, cmd: cmd, stdin: stdin}
	lines := bufio.NewScanner(stdout)
	got := make(chan string, 1)
	go func() {
		for lines.Scan() {
			if addr, ok := strings.CutPrefix(lines.Text(), "listening "); ok {
				got <- addr
			}
		}
		close(got)
	}()
	select {
	case addr, ok := <-got:
		if !ok {
			c.stop()
			return nil, fmt.Errorf("the %s server ended before listening", target)
		}
		c.url = "http://" + addr + "/webhooks/github"
	case <-time.After(60 * time.Second):
		c.stop()
		return nil, fmt.Errorf("the %s server did not listen within a minute", target)
	}
	return c, nil
}

// stop closes the child's stdin and waits for it; it is killed if it
// has not ended within ten seconds.
func (c *child) stop() {
	c.stdin.Close()
	done := make(chan struct{})
	go func() { c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		c.cmd.Process.Kill()
		<-done
	}
}

// runPinned loads every target's pinned server for rounds rounds, and
// prints (and appends to figuresPath) the medians.
func runPinned(n, c, rounds int, maxTime time.Duration, payloadPath, policies string, withRedis bool, figuresPath, profile string) error {
	body, err := os.ReadFile(payloadPath)
	if err != nil {
		return err
	}
	if rounds < 1 {
		rounds = 1
	}
	targets := []struct{ target, name string }{
		{"bare", "bare gin (HMAC + JSON decode)"},
		{"bbolt", "durable acknowledgement (bbolt)"},
	}
	if withRedis && redistest.Binary() != "" {
		targets = append(targets, struct{ target, name string }{"redis", "durable acknowledgement (Redis)"})
	} else if withRedis {
		fmt.Println("(no redis-server installed: the Redis target is left out; bash test/redis.sh installs it)")
	}
	var children []*child
	defer func() {
		for _, ch := range children {
			ch.stop()
		}
	}()
	for _, t := range targets {
		ch, err := startChild(t.target, policies, profile)
		if err != nil {
			return err
		}
		ch.name = t.name
		children = append(children, ch)
	}

	fmt.Printf("pinned load run: servers on CPU 0 (taskset), this generator on CPU 1; %d rounds of %d requests per target, %d connections, payload %s (%d bytes)\n\n",
		rounds, n, c, filepath.Base(payloadPath), len(body))
	fmt.Printf("%-34s %6s %10s %10s %10s %10s\n", "target", "round", "req/s", "p50", "p99", "errors")
	all := make([][]result, len(children))
	for round := 1; round <= rounds; round++ {
		for i, ch := range children {
			r, err := generate(ch.url, body, n, c, maxTime, fmt.Sprintf("pinned-%d-", round))
			if err != nil {
				return fmt.Errorf("%s: %w", ch.name, err)
			}
			all[i] = append(all[i], r)
			fmt.Printf("%-34s %6d %10.0f %10s %10s %10d\n", ch.name, round, r.rps, r.p50.Round(time.Microsecond), r.p99.Round(time.Microsecond), r.errors)
		}
	}

	fmt.Printf("\nmedians of %d rounds:\n", rounds)
	fmt.Printf("%-34s %10s %10s %10s\n", "target", "req/s", "p99", "errors")
	med := make([]result, len(children))
	for i, ch := range children {
		med[i] = median(all[i])
		fmt.Printf("%-34s %10.0f %10s %10d\n", ch.name, med[i].rps, med[i].p99.Round(time.Microsecond), med[i].errors)
	}
	var fig strings.Builder
	for i, ch := range children {
		fmt.Fprintf(&fig, "ack_%s_rps %.1f\n", ch.target, med[i].rps)
		fmt.Fprintf(&fig, "ack_%s_p99_ms %.3f\n", ch.target, float64(med[i].p99)/float64(time.Millisecond))
		fmt.Fprintf(&fig, "ack_%s_errors %d\n", ch.target, med[i].errors)
	}
	for i := 1; i < len(children); i++ {
		fmt.Printf("%s / bare: req/s %.2fx (target ≥ 0.50x), p99 %.2fx (target ≤ 2x)\n", children[i].target,
			med[i].rps/med[0].rps, float64(med[i].p99)/float64(med[0].p99))
	}
	if figuresPath != "" {
		f, err := os.OpenFile(figuresPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		defer f.Close()
		if _, err := f.WriteString(fig.String()); err != nil {
			return err
		}
	}
	return nil
}

// median is the round with the median requests/s, its p99 the median of
// the rounds' p99s, its errors their sum.
func median(rs []result) result {
	rps := make([]float64, len(rs))
	p99 := make([]time.Duration, len(rs))
	errs := 0
	for i, r := range rs {
		rps[i], p99[i] = r.rps, r.p99
		errs += r.errors
	}
	sort.Float64s(rps)
	sort.Slice(p99, func(i, j int) bool { return p99[i] < p99[j] })
	return result{rps: rps[len(rps)/2], p99: p99[len(p99)/2], errors: errs}
}
