package jenkinsapi

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// warnings returns the warning lines logged to buf.
func warnings(buf *bytes.Buffer) []string {
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if strings.Contains(l, "level=WARN") {
			out = append(out, l)
		}
	}
	return out
}

// TestUnplacedNotificationIsWarnedOnce is finding R2 (b): a notification
// of a pull request job in an organisation folder nested below the Jenkins
// root is placed by its scm url, but Jenkins' read of it never will be;
// the gatekeeper says so, once per folder, naming the folder and the
// setting that fixes it.
func TestUnplacedNotificationIsWarnedOnce(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	opts := ParseOptions{Logger: slog.New(slog.NewTextHandler(&buf, nil))}
	nested := "job/github-r2n/job/Codertocat/job/Hello-World/job/PR-2-merge"
	body := notificationJSON(t, func(job, b map[string]any) {
		job["url"] = nested + "/"
		b["url"] = nested + "/10/"
		b["full_url"] = "http://localhost:8080/" + nested + "/10/"
	})
	for range 3 {
		if _, err := ParseNotification(body, opts, testNow); err != nil {
			t.Fatal(err)
		}
	}
	got := warnings(&buf)
	if len(got) != 1 {
		t.Fatalf("warnings after three notifications of one unplaced job = %q, want one", got)
	}
	for _, want := range []string{"folder=github-r2n/Codertocat/Hello-World", "GATEKEEPER_JENKINS_JOBS", "seen_in=notification"} {
		if !strings.Contains(got[0], want) {
			t.Errorf("warning %q does not contain %q", got[0], want)
		}
	}
	// A job the convention places, and a report of an unplaced one
	// without an scm url (refused), each as they should.
	buf.Reset()
	if _, err := ParseNotification(notificationJSON(t, nil), opts, testNow); err != nil {
		t.Fatal(err)
	}
	if got := warnings(&buf); len(got) != 0 {
		t.Errorf("a placed job was warned about: %q", got)
	}
	other := "job/github-r2n/job/acme/job/shop/job/PR-7-merge"
	_, err := ParseNotification(reportJSON(t, func(r map[string]any) { r["job_url"] = other + "/" }), opts, testNow)
	if err == nil {
		t.Fatal("report of an unplaced job without an scm url was placed")
	}
	if got := warnings(&buf); len(got) != 1 || !strings.Contains(got[0], "folder=github-r2n/acme/shop") {
		t.Errorf("warnings for an unplaced report = %q, want one naming github-r2n/acme/shop", got)
	}
}

// TestUnplacedWarningsAreBounded: made-up folders stop being remembered at
// maxUnplacedWarnings, with one last warning saying so.
func TestUnplacedWarningsAreBounded(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	w := &unplacedWarnings{source: "test"}
	for i := range maxUnplacedWarnings + 50 {
		w.warn(log, []string{"x", fmt.Sprint(i), "shop"}, "job/x")
		w.warn(log, []string{"x", fmt.Sprint(i), "shop"}, "job/x")
	}
	if got := warnings(&buf); len(got) != maxUnplacedWarnings+1 || !strings.Contains(got[len(got)-1], "no further ones are logged") {
		t.Errorf("%d warnings, last %q; want %d, the last saying no more follow", len(got), got[len(got)-1], maxUnplacedWarnings+1)
	}
	if len(w.seen) != maxUnplacedWarnings {
		t.Errorf("remembers %d folders, want %d", len(w.seen), maxUnplacedWarnings)
	}
	// A logger that drops warnings remembers nothing.
	quiet := &unplacedWarnings{}
	quiet.warn(slog.New(slog.DiscardHandler), []string{"a", "b", "c"}, "job/a")
	quiet.warn(nil, []string{"a", "b", "c"}, "job/a")
	if len(quiet.seen) != 0 {
		t.Errorf("a discarding logger used up the set: %v", quiet.seen)
	}
}

// TestUnplacedReadIsWarned: a build Jenkins' read places in no repository
// (here the convention folder of a repository GATEKEEPER_JENKINS_JOBS maps
// elsewhere, claimed by a notification's scm url) is warned about once.
func TestUnplacedReadIsWarned(t *testing.T) {
	t.Parallel()
	s, buf, ev := loggedSource(t, "elsewhere/hello=Codertocat/Hello-World")
	for range 2 {
		events, _ := s.Gather(context.Background(), ev)
		for _, e := range events {
			if e.Build != nil && e.Build.Key.Valid() && e.Build.Verified {
				t.Errorf("build %d read in repository %v, want none", e.Build.Number, e.Build.Key)
			}
		}
	}
	got := warnings(buf)
	if len(got) != 1 {
		t.Fatalf("warnings after two reads = %q, want one", got)
	}
	for _, want := range []string{"folder=Codertocat/Hello-World", "GATEKEEPER_JENKINS_JOBS", `seen_in="jenkins read"`} {
		if !strings.Contains(got[0], want) {
			t.Errorf("warning %q does not contain %q", got[0], want)
		}
	}
}

// TestPartialMappingReadsConventionRepository is finding R2 (a) through
// the Source: with GATEKEEPER_JENKINS_JOBS listing another repository, the
// build of Codertocat/Hello-World's convention job is read, placed in its
// pull request and becomes its current build, without a warning.
func TestPartialMappingReadsConventionRepository(t *testing.T) {
	t.Parallel()
	s, buf, ev := loggedSource(t, "legacy/shop-ci=acme/shop")
	events, err := s.Gather(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range events {
		ev.Apply(e)
	}
	b := ev.CurrentBuild()
	if b == nil || !b.Verified || b.Key != prKey || b.Number != prNumber || b.Result != "SUCCESS" {
		t.Fatalf("current build = %+v, want the verified SUCCESS build %d of %v", b, prNumber, prKey)
	}
	if got := warnings(buf); len(got) != 0 {
		t.Errorf("a placed job was warned about: %q", got)
	}
}

// loggedSource is a Source over the fake Jenkins of sourceFake with the
// job mapping mapping, logging into the buffer returned, and the pull
// request's evidence holding one notification of build 10.
func loggedSource(t *testing.T, mapping string) (*Source, *bytes.Buffer, *gatekeeper.Evidence) {
	t.Helper()
	repos, err := ParseJobRepos(mapping)
	if err != nil {
		t.Fatal(err)
	}
	_, src, _ := sourceFake(t, Options{Repos: repos})
	buf := new(bytes.Buffer)
	s := NewSource(src.c, SourceOptions{Logger: slog.New(slog.NewTextHandler(buf, nil))})
	return s, buf, pullEvidence(t, notificationJSON(t, nil))
}
