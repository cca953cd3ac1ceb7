package webhooks

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/releasegate/gatekeeper/gatekeeper"
)

// FuzzSlackSignature: checkSlackSignature accepts exactly Slack's v0
// signature of the body at a timestamp within five minutes, and every
// refusal is ErrUnauthorized.
func FuzzSlackSignature(f *testing.F) {
	f.Add([]byte("8f742231b10e8888abcd99yyyzzz85a5"), "1531420618", "v0=00", []byte("token=xyz"), int64(1531420618))
	f.Add([]byte("s"), "0", "v0=", []byte(""), int64(0))
	f.Add([]byte("s"), "-1", "v1=00", []byte("x"), int64(300))
	f.Fuzz(func(t *testing.T, secret []byte, ts, sig string, body []byte, now int64) {
		err := checkSlackSignature(secret, ts, sig, body, time.Unix(now, 0))
		mac := hmac.New(sha256.New, secret)
		mac.Write([]byte("v0:" + ts + ":"))
		mac.Write(body)
		secs, perr := strconv.ParseInt(ts, 10, 64)
		fresh := perr == nil && secs > 0 && now-secs <= 300 && secs-now <= 300
		valid := len(secret) > 0 && fresh && strings.HasPrefix(sig, "v0=") && strings.EqualFold(sig[3:], hex.EncodeToString(mac.Sum(nil)))
		if valid != (err == nil) {
			t.Errorf("checkSlackSignature(%q, %q, %q, %q, %d) = %v, want valid=%v", secret, ts, sig, body, now, err, valid)
		}
		if err != nil && !errors.Is(err, gatekeeper.ErrUnauthorized) {
			t.Errorf("error %v does not wrap ErrUnauthorized", err)
		}
	})
}

// FuzzParseSlackInteraction: the parser never panics; what it accepts
// names a user, a valid pull request and a delivery id unique to the press
// or submission, and only a submission carries a reason.
func FuzzParseSlackInteraction(f *testing.F) {
	for _, p := range []string{
		`{"type":"block_actions","team":{"id":"T1"},"user":{"id":"U1"},"trigger_id":"t","actions":[{"action_id":"gatekeeper_go","value":"o/r#1","action_ts":"1.2"}]}`,
		`{"type":"block_actions","user":{"id":"U1","team_id":"T1"},"actions":[{"action_id":"gatekeeper_nogo","value":"o/r#1","action_ts":"1.2"}]}`,
		`{"type":"view_submission","user":{"id":"U1"},"view":{"id":"V1","callback_id":"gatekeeper_nogo_reason","private_metadata":"o/r#1","state":{"values":{"reason":{"reason":{"value":"x"}}}}}}`,
		`{"type":"view_closed"}`, `null`, `[]`,
	} {
		f.Add([]byte(url.Values{"payload": {p}}.Encode()))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		c, ok, err := parseSlackInteraction(body)
		if err != nil {
			if ok || !errors.Is(err, gatekeeper.ErrInvalid) {
				t.Fatalf("error %v (ok %v) does not wrap ErrInvalid", err, ok)
			}
			return
		}
		if !ok {
			return
		}
		if c.user == "" || !c.key.Valid() || !strings.HasPrefix(c.delivery, "slack:") {
			t.Fatalf("accepted %+v", c)
		}
		switch c.kind {
		case "go", "ask":
			if c.reason != "" {
				t.Fatalf("a button press with a reason: %+v", c)
			}
		case "nogo":
		default:
			t.Fatalf("kind %q", c.kind)
		}
	})
}

// TestSlackSignatureKnownAnswer checks the scheme against the worked
// example in Slack's "Verifying requests from Slack": accepted a minute
// after its timestamp, refused five minutes and a second after.
func TestSlackSignatureKnownAnswer(t *testing.T) {
	t.Parallel()
	const (
		secret = "8f742231b10e8888abcd99yyyzzz85a5"
		ts     = "1531420618"
		body   = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
		sig    = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
	)
	at := time.Unix(1531420618, 0)
	if err := checkSlackSignature([]byte(secret), ts, sig, []byte(body), at.Add(time.Minute)); err != nil {
		t.Errorf("Slack's example: %v", err)
	}
	if err := checkSlackSignature([]byte(secret), ts, sig, []byte(body), at.Add(5*time.Minute+time.Second)); !errors.Is(err, gatekeeper.ErrUnauthorized) {
		t.Errorf("Slack's example 5m01s later: %v, want refused", err)
	}
	if err := checkSlackSignature([]byte(secret), ts, sig, []byte(body+"&x=1"), at); err == nil {
		t.Error("Slack's example with a byte more: accepted")
	}
}

// BenchmarkSlackVerifyAndParse is the endpoint's own work on a press:
// the signature check and the payload parse.
func BenchmarkSlackVerifyAndParse(b *testing.B) {
	body := []byte(url.Values{"payload": {`{"type":"block_actions","team":{"id":"T1"},"user":{"id":"U1"},"trigger_id":"t","response_url":"https://hooks.slack.com/actions/T1/1/x","actions":[{"action_id":"gatekeeper_go","value":"acme/payments#42","action_ts":"1714991400.000100","type":"button"}]}`}}.Encode())
	secret := []byte("8f742231b10e8888abcd99yyyzzz85a5")
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("v0:1714991400:"))
	mac.Write(body)
	sig := "v0=" + hex.EncodeToString(mac.Sum(nil))
	now := time.Unix(1714991400, 0)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if err := checkSlackSignature(secret, "1714991400", sig, body, now); err != nil {
			b.Fatal(err)
		}
		if _, ok, err := parseSlackInteraction(body); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}
