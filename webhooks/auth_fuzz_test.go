package webhooks_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// FuzzSignInCallback drives /auth/login and /auth/callback with fuzzed
// next paths, states, codes and cookies, each either the real one the
// flow produced or a fuzzed one, and a fuzzed session cookie on the page.
// Whatever comes in:
//   - a session is set only for the real state cookie, the real state and a
//     code GitHub issued for this sign-in;
//   - every redirect stays on this server;
//   - nothing answers 5xx (the fake GitHub is up);
//   - a session cookie the server did not seal never shows the page.
func FuzzSignInCallback(f *testing.F) {
	r := newAuthRig(f, "https://gate.example", testKey)
	f.Add(pagePath, "", "", "", true, true, true, "")
	f.Add("//evil.example/", "", "", "", true, true, true, "")
	f.Add("/\\evil.example", "", "", "", true, true, true, "")
	f.Add("/", "x", "", "", false, true, true, "")
	f.Add("/", "", "forged", "", true, false, true, "")
	f.Add("/", "", "", "AAAA", true, true, false, "AAAA")
	f.Add("https://evil.example", "%00", "\r\n", "..", false, false, false, "e30")
	f.Fuzz(func(t *testing.T, next, state, code, cookie string, realState, realCode, realCookie bool, session string) {
		w := r.request(t, "/auth/login?next="+url.QueryEscape(next), nil)
		if w.Code != http.StatusFound || !strings.HasPrefix(w.Header().Get("Location"), r.fake.URL+"/login/oauth/authorize?") {
			t.Fatalf("/auth/login?next=%q: %d, Location %q", next, w.Code, w.Header().Get("Location"))
		}
		consent, err := url.Parse(w.Header().Get("Location"))
		if err != nil {
			t.Fatal(err)
		}
		stateCookie := setCookie(w, "__Host-gatekeeper_oauth_state")
		if stateCookie == nil {
			t.Fatal("no state cookie")
		}
		if realState {
			state = consent.Query().Get("state")
		}
		if realCode {
			r.fake.SignIn("alice")
			resp, err := noRedirect.Get(consent.String())
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			back, err := url.Parse(resp.Header.Get("Location"))
			if err != nil {
				t.Fatal(err)
			}
			code = back.Query().Get("code")
		}
		if realCookie {
			cookie = stateCookie.Value
		}
		q := url.Values{"state": {state}, "code": {code}}
		w = r.request(t, "/auth/callback?"+q.Encode(), []*http.Cookie{{Name: stateCookie.Name, Value: sanitizeCookie(cookie)}})
		switch w.Code {
		case http.StatusFound, http.StatusBadRequest, http.StatusUnauthorized:
		default:
			t.Fatalf("callback answered %d: %s", w.Code, w.Body)
		}
		sess := setCookie(w, r.cookie)
		signedIn := sess != nil && sess.Value != ""
		genuine := realCookie && state == consent.Query().Get("state") && realCode
		if signedIn != genuine {
			t.Fatalf("signed in: %v, but real cookie %v, real state %v, real code %v", signedIn, realCookie, realState, realCode)
		}
		if w.Code == http.StatusFound {
			loc, err := url.Parse(w.Header().Get("Location"))
			if err != nil {
				t.Fatalf("Location %q: %v", w.Header().Get("Location"), err)
			}
			dest := (&url.URL{Scheme: "https", Host: "gate.example", Path: "/auth/callback"}).ResolveReference(loc)
			if dest.Scheme != "https" || dest.Host != "gate.example" {
				t.Fatalf("next %q sends the browser to %q", next, dest)
			}
		}
		if signedIn && session == "" {
			return
		}
		w = r.request(t, pagePath, []*http.Cookie{{Name: r.cookie, Value: sanitizeCookie(session)}})
		if w.Code == http.StatusOK {
			t.Fatalf("a session cookie %q the server never sealed shows the page", session)
		}
	})
}

// sanitizeCookie drops the bytes net/http refuses in a cookie value, so
// that the fuzzed value reaches the server rather than being dropped by
// the client side of the test.
func sanitizeCookie(v string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x21 || r > 0x7e || r == '"' || r == ';' || r == '\\' || r == ',' {
			return -1
		}
		return r
	}, v)
}
