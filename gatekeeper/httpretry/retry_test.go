package httpretry

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

// fakeClock advances only when the loop sleeps.
type fakeClock struct {
	now   time.Time
	slept []time.Duration
}

func (c *fakeClock) Now() time.Time { return c.now }
func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.slept = append(c.slept, d)
	c.now = c.now.Add(d)
	return ctx.Err()
}

func TestDo(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	tests := []struct {
		name       string
		policy     Policy
		verdicts   []Verdict // by attempt; the last repeats
		wantCalls  int
		wantErr    string // substring; "" means nil
		wantIs     error
		wantSleeps []time.Duration
	}{
		{name: "success first", verdicts: []Verdict{Success()}, wantCalls: 1},
		{name: "final failure is not retried", verdicts: []Verdict{Fail(boom)}, wantCalls: 1, wantErr: "boom", wantIs: boom},
		{
			name:     "retried then success",
			verdicts: []Verdict{Again(boom, time.Second), Again(boom, 2*time.Second), Success()},
			policy:   Policy{MaxAttempts: 5}, wantCalls: 3, wantSleeps: []time.Duration{time.Second, 2 * time.Second},
		},
		{
			name:     "gives up after MaxAttempts",
			verdicts: []Verdict{Again(boom, time.Second)}, policy: Policy{MaxAttempts: 3},
			wantCalls: 3, wantErr: "giving up after 3 attempts: boom", wantIs: boom,
			wantSleeps: []time.Duration{time.Second, time.Second},
		},
		{
			name:     "a wait past MaxElapsed is not taken",
			verdicts: []Verdict{Again(boom, 10*time.Second), Again(boom, time.Minute)}, policy: Policy{MaxAttempts: 9, MaxElapsed: 30 * time.Second},
			wantCalls: 2, wantErr: "next one in 1m0s would pass the 30s retry limit", wantIs: boom,
			wantSleeps: []time.Duration{10 * time.Second},
		},
		{
			name:     "default is three attempts",
			verdicts: []Verdict{Again(boom, 0)}, wantCalls: 3, wantErr: "giving up after 3 attempts", wantSleeps: []time.Duration{0, 0},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := &fakeClock{now: time.Unix(1_700_000_000, 0)}
			p := tt.policy
			p.Now, p.Sleep = clk.Now, clk.Sleep
			calls := 0
			err := p.Do(context.Background(), func(_ context.Context, n int) Verdict {
				calls++
				if n != calls {
					t.Errorf("attempt numbered %d, want %d", n, calls)
				}
				return tt.verdicts[min(n, len(tt.verdicts))-1]
			})
			if calls != tt.wantCalls {
				t.Errorf("calls = %d, want %d", calls, tt.wantCalls)
			}
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("err = %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("err = %v, want one containing %q", err, tt.wantErr)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("err = %v does not wrap %v", err, tt.wantIs)
			}
			if len(clk.slept) != len(tt.wantSleeps) {
				t.Fatalf("slept %v, want %v", clk.slept, tt.wantSleeps)
			}
			for i := range clk.slept {
				if clk.slept[i] != tt.wantSleeps[i] {
					t.Errorf("sleep %d = %s, want %s", i, clk.slept[i], tt.wantSleeps[i])
				}
			}
		})
	}
}

func TestDoStopsWhenContextEnds(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	err := Policy{MaxAttempts: 10}.Do(ctx, func(context.Context, int) Verdict {
		calls++
		cancel() // the caller gave up while the attempt ran
		return Again(errors.New("timeout"), time.Hour)
	})
	if !errors.Is(err, context.Canceled) || calls != 1 {
		t.Errorf("err = %v after %d calls, want context.Canceled after 1", err, calls)
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	for attempt, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 9: 30 * time.Second, 100: 30 * time.Second} {
		if got := Backoff(time.Second, 30*time.Second, attempt, false); got != want {
			t.Errorf("Backoff(attempt %d) = %s, want %s", attempt, got, want)
		}
		for i := 0; i < 50; i++ {
			if got := Backoff(time.Second, 30*time.Second, attempt, true); got < want/2 || got > want {
				t.Fatalf("jittered Backoff(attempt %d) = %s, want within [%s, %s]", attempt, got, want/2, want)
			}
		}
	}
}

func TestRetryAfterAndReset(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		header http.Header
		want   time.Duration
		ok     bool
	}{
		{"seconds", http.Header{"Retry-After": {"7"}}, 7 * time.Second, true},
		{"date", http.Header{"Retry-After": {now.Add(90 * time.Second).Format(http.TimeFormat)}}, 90 * time.Second, true},
		{"date in the past", http.Header{"Retry-After": {now.Add(-time.Hour).Format(http.TimeFormat)}}, 0, true},
		{"missing", http.Header{}, 0, false},
		{"garbage", http.Header{"Retry-After": {"soon"}}, 0, false},
		{"negative", http.Header{"Retry-After": {"-3"}}, 0, false},
	}
	for _, tt := range tests {
		got, ok := RetryAfter(tt.header, now)
		if got != tt.want || ok != tt.ok {
			t.Errorf("%s: RetryAfter = %s, %v; want %s, %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
	h := http.Header{"X-Ratelimit-Reset": {"1796558460"}} // now + 60 s
	if got, ok := ResetWait(h, time.Unix(1796558400, 0)); !ok || got != 61*time.Second {
		t.Errorf("ResetWait = %s, %v; want 61s, true", got, ok)
	}
	if _, ok := ResetWait(http.Header{}, now); ok {
		t.Error("ResetWait without a header reported a reset")
	}
}
