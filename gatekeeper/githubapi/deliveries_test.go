package githubapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// delivery is one entry of a hook's delivery list, as GitHub lists them.
type delivery struct {
	ID          int64   `json:"id"`
	GUID        string  `json:"guid"`
	DeliveredAt string  `json:"delivered_at"`
	Redelivery  bool    `json:"redelivery"`
	Duration    float64 `json:"duration"`
	Status      string  `json:"status"`
	StatusCode  int     `json:"status_code"`
	Event       string  `json:"event"`
	Action      string  `json:"action,omitempty"`
}

// fakeDeliveries serves one hook's deliveries, newest first, pageSize a
// page with GitHub's cursor pagination (Link: <…?cursor=N>; rel="next"),
// and records the redeliveries asked (POST …/deliveries/{id}/attempts).
type fakeDeliveries struct {
	mu          sync.Mutex
	list        []delivery
	pageSize    int
	pages       int     // list calls served
	redelivered []int64 // delivery ids
	refuse      int64   // a delivery id answered 422
}

var attemptsPath = regexp.MustCompile(`/deliveries/([0-9]+)/attempts$`)

func (f *fakeDeliveries) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if m := attemptsPath.FindStringSubmatch(r.URL.Path); m != nil && r.Method == http.MethodPost {
		id, _ := strconv.ParseInt(m[1], 10, 64)
		f.redelivered = append(f.redelivered, id)
		if id == f.refuse {
			writeJSON(w, http.StatusUnprocessableEntity, `{"message":"Validation Failed"}`)
			return
		}
		writeJSON(w, http.StatusAccepted, `{}`)
		return
	}
	if !strings.HasSuffix(r.URL.Path, "/deliveries") || r.Method != http.MethodGet {
		writeJSON(w, http.StatusNotFound, `{"message":"Not Found"}`)
		return
	}
	f.pages++
	start, _ := strconv.Atoi(r.URL.Query().Get("cursor"))
	end := min(start+f.pageSize, len(f.list))
	if end < len(f.list) {
		u := *r.URL
		q := u.Query()
		q.Set("cursor", strconv.Itoa(end))
		u.RawQuery = q.Encode()
		w.Header().Set("Link", fmt.Sprintf(`<http://%s%s>; rel="next"`, r.Host, u.RequestURI()))
	}
	body, _ := json.Marshal(f.list[start:end])
	writeJSON(w, http.StatusOK, string(body))
}

func (f *fakeDeliveries) asked() []int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.redelivered)
}

// deliveriesScript is a hook's recent history, newest first: GUID a
// failed (502) and was never redelivered; b timed out, then its
// redelivery succeeded; c failed but the store has it (GitHub timed out
// after the gatekeeper recorded it); d failed twice; e succeeded.
func deliveriesScript(now time.Time) []delivery {
	at := func(min int) string { return now.Add(-time.Duration(min) * time.Minute).UTC().Format(time.RFC3339) }
	return []delivery{
		{ID: 10, GUID: "guid-d", DeliveredAt: at(1), Redelivery: true, Status: "Invalid HTTP Response: 503", StatusCode: 503, Event: "pull_request"},
		{ID: 9, GUID: "guid-b", DeliveredAt: at(2), Redelivery: true, Status: "OK", StatusCode: 202, Event: "pull_request_review"},
		{ID: 8, GUID: "guid-e", DeliveredAt: at(3), Status: "OK", StatusCode: 202, Event: "issue_comment"},
		{ID: 7, GUID: "guid-d", DeliveredAt: at(4), Status: "Invalid HTTP Response: 502", StatusCode: 502, Event: "pull_request"},
		{ID: 6, GUID: "guid-c", DeliveredAt: at(5), Status: "timed out", StatusCode: 0, Event: "status"},
		{ID: 5, GUID: "guid-b", DeliveredAt: at(6), Status: "timed out", StatusCode: 0, Event: "pull_request_review"},
		{ID: 4, GUID: "guid-a", DeliveredAt: at(7), Status: "Invalid HTTP Response: 502", StatusCode: 502, Event: "pull_request"},
		{ID: 3, GUID: "guid-old", DeliveredAt: at(4 * 24 * 60), Status: "Invalid HTTP Response: 502", StatusCode: 502, Event: "pull_request"},
	}
}

func storeHas(guids ...string) func(context.Context, string) (bool, error) {
	return func(_ context.Context, g string) (bool, error) { return slices.Contains(guids, g), nil }
}

func TestSweepRedeliversOnlyFailedUnstoredDeliveries(t *testing.T) {
	t.Parallel()
	tm := newFakeTime()
	fd := &fakeDeliveries{list: deliveriesScript(tm.Now()), pageSize: 3}
	mux := http.NewServeMux()
	mux.Handle("/repos/octo-org/app/hooks/42/", fd)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	obs := &observed{}
	c := newTestClient(t, srv.URL+"/", tm, obs, testRetry())
	counted := 0
	s := NewSweeper(c, SweeperOptions{
		Hooks:       []Hook{{Owner: "octo-org", Repo: "app", ID: 42}},
		Seen:        storeHas("guid-c"),
		Redelivered: func() { counted++ },
	})
	res, err := s.Sweep(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// d's newest attempt (10) and a's (4); not b (its redelivery
	// succeeded), c (stored), e (succeeded), nor the 4-day-old one.
	if got, want := fd.asked(), []int64{10, 4}; !slices.Equal(got, want) {
		t.Errorf("redelivered %v, want %v", got, want)
	}
	if res.Redelivered != 2 || counted != 2 || res.Stored != 1 || res.Failed != 3 {
		t.Errorf("result %+v, counted %d", res, counted)
	}
	if fd.pages != 3 {
		t.Errorf("read %d pages, want 3 (the third reaches deliveries older than 3 days)", fd.pages)
	}
	if !slices.Contains(obs.list(), EndpointRedeliverHookDelivery+" 202") {
		t.Errorf("observed %v, want a %s 202", obs.list(), EndpointRedeliverHookDelivery)
	}
}

func TestSweepIsBounded(t *testing.T) {
	t.Parallel()
	tm := newFakeTime()
	var list []delivery
	for i := range 50 {
		list = append(list, delivery{ID: int64(1000 - i), GUID: fmt.Sprintf("guid-%d", i),
			DeliveredAt: tm.Now().Add(-time.Duration(i) * time.Minute).UTC().Format(time.RFC3339),
			Status:      "Invalid HTTP Response: 502", StatusCode: 502, Event: "pull_request"})
	}
	fd := &fakeDeliveries{list: list, pageSize: 5}
	mux := http.NewServeMux()
	mux.Handle("/repos/octo-org/app/hooks/42/", fd)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	c := newTestClient(t, srv.URL+"/", tm, nil, testRetry())
	s := NewSweeper(c, SweeperOptions{
		Hooks:    []Hook{{Owner: "octo-org", Repo: "app", ID: 42}},
		MaxPages: 3, MaxRedeliveries: 4,
	})
	res, err := s.Sweep(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if fd.pages != 3 || res.Listed != 15 {
		t.Errorf("read %d pages, %d deliveries; want 3 pages, 15", fd.pages, res.Listed)
	}
	// The newest first: the oldest failures wait for the next sweep.
	if got, want := fd.asked(), []int64{1000, 999, 998, 997}; !slices.Equal(got, want) {
		t.Errorf("redelivered %v, want %v", got, want)
	}
}

func TestSweepAppHookWithJWT(t *testing.T) {
	t.Parallel()
	f := newFakeApp(t, "/api/v3")
	tm := newFakeTime()
	tm.now = time.Now() // the fake App checks the JWT against the wall clock
	fd := &fakeDeliveries{list: deliveriesScript(tm.Now()), pageSize: 100}
	f.hook = fd.ServeHTTP
	c := newAppClient(t, f, tm, nil, nil)
	s := NewSweeper(c, SweeperOptions{App: true, Seen: storeHas("guid-c")})
	res, err := s.Sweep(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fd.asked(), []int64{10, 4}; !slices.Equal(got, want) {
		t.Errorf("redelivered %v, want %v (result %+v)", got, want, res)
	}
	want := []string{
		"GET /app/hook/deliveries jwt",
		"POST /app/hook/deliveries/10/attempts jwt",
		"POST /app/hook/deliveries/4/attempts jwt",
	}
	if got := f.Calls(); !slices.Equal(got, want) {
		t.Errorf("calls %q, want %q", got, want)
	}
}

func TestSweepGoesOnPastARefusedRedelivery(t *testing.T) {
	t.Parallel()
	tm := newFakeTime()
	fd := &fakeDeliveries{list: deliveriesScript(tm.Now()), pageSize: 100, refuse: 10}
	mux := http.NewServeMux()
	mux.Handle("/repos/octo-org/app/hooks/42/", fd)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	c := newTestClient(t, srv.URL+"/", tm, nil, testRetry())
	s := NewSweeper(c, SweeperOptions{Hooks: []Hook{{Owner: "octo-org", Repo: "app", ID: 42}}, Seen: storeHas("guid-c")})
	res, err := s.Sweep(context.Background())
	if err == nil || !strings.Contains(err.Error(), "guid-d") {
		t.Errorf("err = %v, want one naming guid-d", err)
	}
	if got, want := fd.asked(), []int64{10, 4}; !slices.Equal(got, want) || res.Redelivered != 1 {
		t.Errorf("asked %v (want %v), redelivered %d (want 1)", got, want, res.Redelivered)
	}
}
