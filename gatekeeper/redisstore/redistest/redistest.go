// Package redistest starts a real redis-server for a test: on a free
// loopback port, in a temporary folder, with the persistence the README
// names for a 202 that survives a crash (appendonly yes, appendfsync
// always), and stops it when the test ends.
//
// When no redis-server is installed a test is skipped with a message saying
// how to get one, except where GATEKEEPER_REQUIRE_REDIS or CI is set (as
// test/run-tests.sh and CI do): there a missing redis-server fails the test,
// so that a store suite can never pass by not running.
package redistest

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Server is one redis-server process started for a test. Its methods are
// meant for the test goroutine.
type Server struct {
	// Addr is host:port on 127.0.0.1.
	Addr string
	// Dir is the server's working folder (its append-only file and log).
	Dir string

	bin  string
	args []string
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

// Binary returns the redis-server to run: $REDIS_SERVER, else redis-server
// on PATH, else "" when there is none.
func Binary() string {
	if b := os.Getenv("REDIS_SERVER"); b != "" {
		return b
	}
	b, err := exec.LookPath("redis-server")
	if err != nil {
		return ""
	}
	return b
}

// Required reports whether a missing redis-server is a failure rather than
// a reason to skip: in CI, and under test/run-tests.sh.
func Required() bool {
	return os.Getenv("GATEKEEPER_REQUIRE_REDIS") != "" || os.Getenv("CI") != ""
}

// Start starts a redis-server for t and stops it when t ends. extra are
// further redis-server arguments ("--appendfsync", "everysec"), which win
// over the defaults.
func Start(t testing.TB, extra ...string) *Server {
	t.Helper()
	if Binary() == "" {
		msg := "redis-server is not installed: `bash test/redis.sh` or `make test` installs it (Debian package redis-server)"
		if Required() {
			t.Fatal(msg + "; it is required here (GATEKEEPER_REQUIRE_REDIS or CI is set)")
		}
		t.Skip(msg)
	}
	s, err := Launch(t.TempDir(), extra...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// Launch starts a redis-server in dir on a free loopback port, for a
// program that is not a test (the load run). The caller stops it.
func Launch(dir string, extra ...string) (*Server, error) {
	bin := Binary()
	if bin == "" {
		return nil, fmt.Errorf("redis-server is not installed")
	}
	var lastErr error
	for range 5 { // another process may take the free port first
		port, err := freePort()
		if err != nil {
			return nil, fmt.Errorf("finding a free port: %w", err)
		}
		s := &Server{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Dir: dir, bin: bin}
		s.args = append([]string{
			"--bind", "127.0.0.1",
			"--port", strconv.Itoa(port),
			"--dir", dir,
			"--logfile", filepath.Join(dir, "redis.log"),
			"--save", "",
			"--appendonly", "yes",
			"--appendfsync", "always",
			"--daemonize", "no",
			// A primary stopped with SIGTERM would wait up to 10 s for
			// its replicas to catch up.
			"--shutdown-timeout", "0",
		}, extra...)
		if lastErr = s.start(); lastErr == nil {
			return s, nil
		}
	}
	return nil, fmt.Errorf("starting redis-server: %w", lastErr)
}

// URL is the redis:// URL of database db on the server.
func (s *Server) URL(db int) string {
	return fmt.Sprintf("redis://%s/%d", s.Addr, db)
}

// start runs the server and waits until it answers PING.
func (s *Server) start() error {
	cmd := exec.Command(s.bin, s.args...)
	cmd.Dir = s.Dir
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("running %s: %w", s.bin, err)
	}
	s.cmd = cmd
	s.done = make(chan struct{})
	go func() { _ = cmd.Wait(); close(s.done) }()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			return fmt.Errorf("redis-server exited at start: %s", s.logTail())
		default:
		}
		if ping(s.Addr) == nil {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.kill(syscall.SIGKILL)
	return fmt.Errorf("redis-server did not answer PING within 10s: %s", s.logTail())
}

// Kill ends the server at once with SIGKILL, as a crash would: nothing is
// flushed beyond what its fsync policy already wrote.
func (s *Server) Kill() { s.kill(syscall.SIGKILL) }

// Stop ends the server with SIGTERM (waiting up to 2 s, then SIGKILL: a
// replica that has just synced can let a SIGTERM wait for long).
// Stopping a stopped server is harmless.
func (s *Server) Stop() { s.kill(syscall.SIGTERM) }

func (s *Server) kill(sig syscall.Signal) {
	if s.cmd == nil {
		return
	}
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Signal(sig)
	select {
	case <-s.done:
	case <-time.After(2 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// Restart starts the server again on the same port and folder, after Kill
// or Stop, so that it reloads what it persisted.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop()
	if err := s.start(); err != nil {
		t.Fatalf("restarting redis-server: %v", err)
	}
}

// logTail is the end of the server's log, for error messages.
func (s *Server) logTail() string {
	b, err := os.ReadFile(filepath.Join(s.Dir, "redis.log"))
	if err != nil {
		return "(no log)"
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 5 {
		lines = lines[len(lines)-5:]
	}
	return strings.Join(lines, " | ")
}

// freePort asks the kernel for a free loopback port.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// ping speaks just enough RESP to see the server answer, so that this
// package needs no client library.
func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	// A server with requirepass answers NOAUTH: it is up all the same.
	if !strings.HasPrefix(line, "+PONG") && !strings.HasPrefix(line, "-NOAUTH") {
		return fmt.Errorf("PING answered %q", strings.TrimSpace(line))
	}
	return nil
}
