package jenkinsapi_test

import (
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/releasegate/gatekeeper/gatekeeper"
	"github.com/releasegate/gatekeeper/gatekeeper/jenkinsapi"
)

func TestParseJobPath(t *testing.T) {
	t.Parallel()
	type result struct {
		Folders  []string
		PR       int
		Strategy string
		OK       bool
	}
	tests := []struct {
		name string
		url  string
		want result
	}{
		{"notification relative url", "job/acme/job/shop/job/PR-123/", result{[]string{"acme", "shop"}, 123, "", true}},
		{"merge strategy", "job/acme/job/shop/job/PR-12-merge/", result{[]string{"acme", "shop"}, 12, "merge", true}},
		{"head strategy", "job/acme/job/shop/job/PR-12-head", result{[]string{"acme", "shop"}, 12, "head", true}},
		{"leading slash", "/job/acme/job/shop/job/PR-1/", result{[]string{"acme", "shop"}, 1, "", true}},
		{"absolute with context path", "https://ci.example.com/jenkins/job/acme/job/shop/job/PR-7-merge/", result{[]string{"acme", "shop"}, 7, "merge", true}},
		{"build url", "http://localhost:8080/job/acme/job/shop/job/PR-7-merge/42/", result{[]string{"acme", "shop"}, 7, "merge", true}},
		{"url-encoded folder", "job/my%20org/job/shop/job/PR-9/", result{[]string{"my org", "shop"}, 9, "", true}},
		{"url-encoded job name", "job/acme/job/shop/job/PR%2D9%2Dmerge/", result{[]string{"acme", "shop"}, 9, "merge", true}},
		{"deeper folders", "job/github/job/acme/job/shop/job/PR-3/", result{[]string{"github", "acme", "shop"}, 3, "", true}},
		{"gojenkins double slash", "/job/acme/job/shop/job/PR-3//5", result{[]string{"acme", "shop"}, 3, "", true}},
		{"context path named job", "https://ci/job/job/acme/job/PR-3/", result{[]string{"acme"}, 3, "", true}},
		{"query ignored", "job/acme/job/shop/job/PR-3/?depth=1", result{[]string{"acme", "shop"}, 3, "", true}},
		{"bare name", "PR-123", result{}},
		{"bare name with slash", "PR-123/", result{}},
		{"top-level job, no multibranch project", "job/PR-1/", result{}},
		{"branch job", "job/acme/job/shop/job/master/", result{}},
		{"unknown strategy", "job/acme/job/shop/job/PR-1-rebase/", result{}},
		{"upper-case strategy", "job/acme/job/shop/job/PR-1-MERGE/", result{}},
		{"lower-case pr", "job/acme/job/shop/job/pr-1/", result{}},
		{"no number", "job/acme/job/shop/job/PR-/", result{}},
		{"zero", "job/acme/job/shop/job/PR-0/", result{}},
		{"leading zero", "job/acme/job/shop/job/PR-012/", result{}},
		{"signed number", "job/acme/job/shop/job/PR-+12/", result{}},
		{"too large", "job/acme/job/shop/job/PR-99999999999/", result{}},
		{"trailing non-number", "job/acme/job/shop/job/PR-1/console", result{}},
		{"bad escape", "job/acme/job/sh%zzop/job/PR-1/", result{}},
		{"empty", "", result{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got result
			got.Folders, got.PR, got.Strategy, got.OK = jenkinsapi.ParseJobPath(tt.url)
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("ParseJobPath(%q) mismatch (-want +got):\n%s", tt.url, diff)
			}
		})
	}
}

func TestSplitJobURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		url   string
		names []string
		build int64
		ok    bool
	}{
		{"branch job", "job/acme/job/shop/job/master/", []string{"acme", "shop", "master"}, 0, true},
		{"branch with encoded slash stays one name", "job/acme/job/shop/job/feature%252Fx/", []string{"acme", "shop", "feature%2Fx"}, 0, true},
		{"build of a top-level job", "http://localhost:32769/job/fish/10/", []string{"fish"}, 10, true},
		{"job named like a number", "job/acme/job/7/", []string{"acme", "7"}, 0, true},
		{"no job", "https://ci.example.com/jenkins/", nil, 0, false},
		{"dangling job keyword", "job/", nil, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			names, build, ok := jenkinsapi.SplitJobURL(tt.url)
			if diff := cmp.Diff(tt.names, names, cmpopts.EquateEmpty()); diff != "" || build != tt.build || ok != tt.ok {
				t.Errorf("SplitJobURL(%q) = %q, %d, %v; want %q, %d, %v", tt.url, names, build, ok, tt.names, tt.build, tt.ok)
			}
		})
	}
}

func FuzzParseJobPath(f *testing.F) {
	for _, s := range []string{
		"job/acme/job/shop/job/PR-123/",
		"job/acme/job/shop/job/PR-12-merge/",
		"https://ci.example.com/jenkins/job/my%20org/job/shop/job/PR-7-head/42/",
		"/job/fish//10",
		"job/asgard/", // the Notification plugin wiki example
		"PR-1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		folders, n, strategy, ok := jenkinsapi.ParseJobPath(s)
		if !ok {
			if folders != nil || n != 0 || strategy != "" {
				t.Fatalf("ParseJobPath(%q) not ok but returned %q, %d, %q", s, folders, n, strategy)
			}
			return
		}
		if n <= 0 || len(folders) == 0 {
			t.Fatalf("ParseJobPath(%q) = %q, %d: want a positive number and a folder", s, folders, n)
		}
		name := "PR-" + strconv.Itoa(n)
		switch strategy {
		case "":
		case "merge", "head":
			name += "-" + strategy
		default:
			t.Fatalf("ParseJobPath(%q) strategy %q", s, strategy)
		}
		// What was parsed must survive being written back as Jenkins
		// writes job URLs.
		var b strings.Builder
		for _, f := range append(append([]string(nil), folders...), name) {
			if f == "" {
				t.Fatalf("ParseJobPath(%q) returned an empty folder name", s)
			}
			b.WriteString("job/" + url.PathEscape(f) + "/")
		}
		f2, n2, s2, ok2 := jenkinsapi.ParseJobPath(b.String())
		if !ok2 || n2 != n || s2 != strategy || !cmp.Equal(f2, folders) {
			t.Fatalf("round trip of %q via %q = %q, %d, %q, %v", s, b.String(), f2, n2, s2, ok2)
		}
	})
}

func TestJobRepos(t *testing.T) {
	t.Parallel()
	repos, err := jenkinsapi.ParseJobRepos(" ci/shop-service = acme/shop , legacy=acme/old")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		url      string
		key      gatekeeper.PullKey
		strategy string
		ok       bool
	}{
		{"configured folder", "job/ci/job/shop-service/job/PR-4-merge/", gatekeeper.PullKey{Owner: "acme", Repo: "shop", Number: 4}, "merge", true},
		// A repository the mapping does not list keeps the convention
		// (finding R2); a copy of a multibranch project in another folder
		// (job/alice/job/acme/job/shop) still builds nothing.
		{"convention for an unlisted repository", "https://ci/jenkins/job/Codertocat/job/Hello-World/job/PR-2-merge/10/", gatekeeper.PullKey{Owner: "Codertocat", Repo: "Hello-World", Number: 2}, "merge", true},
		{"listed repository's convention folder", "job/acme/job/shop/job/PR-2-merge/", gatekeeper.PullKey{}, "", false},
		{"configured folder's copy elsewhere", "job/alice/job/ci/job/shop-service/job/PR-4-merge/", gatekeeper.PullKey{}, "", false},
		{"configured folder's parent", "job/shop-service/job/PR-4-merge/", gatekeeper.PullKey{}, "", false},
		{"configured single folder", "job/legacy/job/PR-9/", gatekeeper.PullKey{Owner: "acme", Repo: "old", Number: 9}, "", true},
		{"one unmapped folder", "job/other/job/PR-9/", gatekeeper.PullKey{}, "", false},
		{"branch job", "job/acme/job/shop/job/master/", gatekeeper.PullKey{}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			key, strategy, ok := repos.PullKey(tt.url)
			if key != tt.key || strategy != tt.strategy || ok != tt.ok {
				t.Errorf("PullKey(%q) = %v, %q, %v; want %v, %q, %v", tt.url, key, strategy, ok, tt.key, tt.strategy, tt.ok)
			}
		})
	}
	if diff := cmp.Diff([]string{"ci", "shop-service"}, repos.Folders("acme", "shop")); diff != "" {
		t.Errorf("Folders(acme, shop) (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"x", "y"}, repos.Folders("x", "y")); diff != "" {
		t.Errorf("Folders(x, y) (-want +got):\n%s", diff)
	}
}

// TestJobReposForeignFolder is finding F10: a folder the mapping does not
// name places no job, and without a mapping the convention places only the
// multibranch project at <owner>/<repo> from the Jenkins root, the one
// folder Folders names and the lost-notification lookup and the baseline
// read: a copy at alice/acme/shop (any folder a token holder can create a
// job in) builds no repository.
func TestJobReposForeignFolder(t *testing.T) {
	t.Parallel()
	mapped, err := jenkinsapi.ParseJobRepos("ci/shop=acme/shop")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name    string
		repos   jenkinsapi.JobRepos
		folders []string
		want    string // owner/repo, "" for not placed
	}{
		{"mapped", mapped, []string{"ci", "shop"}, "acme/shop"},
		{"mapped: unmapped folder named like the repository", mapped, []string{"acme", "shop"}, ""},
		{"mapped: copy under a personal folder", mapped, []string{"alice", "acme", "shop"}, ""},
		{"mapped: mapped folder nested in another", mapped, []string{"alice", "ci", "shop"}, ""},
		{"convention", jenkinsapi.JobRepos{}, []string{"acme", "shop"}, "acme/shop"},
		{"convention: copy under a personal folder", jenkinsapi.JobRepos{}, []string{"alice", "acme", "shop"}, ""},
		{"convention: one folder", jenkinsapi.JobRepos{}, []string{"shop"}, ""},
		{"nil map is the convention", nil, []string{"acme", "shop"}, "acme/shop"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			owner, repo, ok := tt.repos.Repo(tt.folders)
			got := ""
			if ok {
				got = owner + "/" + repo
			}
			if got != tt.want {
				t.Errorf("Repo(%q) = %q, %v; want %q", tt.folders, got, ok, tt.want)
			}
			if ok {
				if f := tt.repos.Folders(owner, repo); !cmp.Equal(f, tt.folders) {
					t.Errorf("Folders(%s) = %q, want the folders that placed it, %q", got, f, tt.folders)
				}
			}
		})
	}
}

func TestParseJobReposErrors(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"noequals", "a=b", "a=/b", "=o/r", "a=o/r/x", "a=o/r,a=o/s",
		// One repository in two folders: which one is gated would depend
		// on map order.
		"a=o/r,b=o/r", "a=o/r,b=O/R"} {
		if _, err := jenkinsapi.ParseJobRepos(s); err == nil {
			t.Errorf("ParseJobRepos(%q) = nil error, want an error", s)
		}
	}
	m, err := jenkinsapi.ParseJobRepos("")
	if err != nil || len(m) != 0 {
		t.Errorf("ParseJobRepos(\"\") = %v, %v; want empty map", m, err)
	}
}

// TestPartialMappingStillPlacesConventionRepos is finding R2 (a): a
// mapping that lists some repositories leaves the others their
// organisation-folder convention, exactly <owner>/<repo> from the Jenkins
// root, while a listed repository is placed only by its mapped folder.
func TestPartialMappingStillPlacesConventionRepos(t *testing.T) {
	t.Parallel()
	repos, err := jenkinsapi.ParseJobRepos("legacy/shop-ci=acme/shop")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name    string
		folders []string
		want    string // owner/repo, "" for not placed
	}{
		{"unlisted repository by the convention", []string{"acme", "billing"}, "acme/billing"},
		{"listed repository by its folder", []string{"legacy", "shop-ci"}, "acme/shop"},
		{"listed repository's convention folder", []string{"acme", "shop"}, ""},
		{"listed repository's convention folder, other case", []string{"ACME", "Shop"}, ""},
		{"listed repository's copy under a personal folder", []string{"alice", "acme", "shop"}, ""},
		{"unlisted repository's copy under a personal folder", []string{"alice", "acme", "billing"}, ""},
		{"nested organisation folder", []string{"github", "acme", "billing"}, ""},
		{"mapped folder nested in another", []string{"alice", "legacy", "shop-ci"}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			owner, repo, ok := repos.Repo(tt.folders)
			got := ""
			if ok {
				got = owner + "/" + repo
			}
			if got != tt.want {
				t.Errorf("Repo(%q) = %q, %v; want %q", tt.folders, got, ok, tt.want)
			}
			if ok {
				if f := repos.Folders(owner, repo); !cmp.Equal(f, tt.folders) {
					t.Errorf("Folders(%s) = %q, want the folders that placed it, %q", got, f, tt.folders)
				}
			}
		})
	}
	key, _, ok := repos.PullKey("job/acme/job/billing/job/PR-3-merge/7/")
	if want := (gatekeeper.PullKey{Owner: "acme", Repo: "billing", Number: 3}); !ok || key != want {
		t.Errorf("PullKey(job/acme/job/billing/job/PR-3-merge/7/) = %v, %v; want %v", key, ok, want)
	}
}
