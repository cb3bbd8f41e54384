package slack

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/backout/backout/internal/chat/slack/slackfake"
)

func TestVerify(t *testing.T) {
	body := []byte("token=x&team_id=T1&text=status")
	ts := testNow.Unix()
	headers := func(ts int64, sig string) http.Header {
		h := http.Header{}
		h.Set(headerTimestamp, strconv.FormatInt(ts, 10))
		h.Set(headerSignature, sig)
		return h
	}
	tests := []struct {
		name   string
		secret string
		h      http.Header
		body   []byte
		want   error
	}{
		{"valid", testSecret, headers(ts, slackfake.Sign(testSecret, ts, body)), body, nil},
		{"valid at edge of window", testSecret, headers(ts-300, slackfake.Sign(testSecret, ts-300, body)), body, nil},
		{"wrong secret", testSecret, headers(ts, slackfake.Sign("other", ts, body)), body, errBadSignature},
		{"tampered body", testSecret, headers(ts, slackfake.Sign(testSecret, ts, body)), append([]byte("x"), body...), errBadSignature},
		{"signature for another timestamp", testSecret, headers(ts, slackfake.Sign(testSecret, ts-1, body)), body, errBadSignature},
		{"stale", testSecret, headers(ts-301, slackfake.Sign(testSecret, ts-301, body)), body, errStale},
		{"future", testSecret, headers(ts+301, slackfake.Sign(testSecret, ts+301, body)), body, errStale},
		{"missing signature", testSecret, headers(ts, ""), body, errMissingSig},
		{"missing timestamp", testSecret, http.Header{headerSignature: {slackfake.Sign(testSecret, ts, body)}}, body, errMissingSig},
		{"malformed timestamp", testSecret, http.Header{headerTimestamp: {"soon"}, headerSignature: {"v0=00"}}, body, errBadTimestamp},
		{"uppercase hex", testSecret, headers(ts, strings.ToUpper(slackfake.Sign(testSecret, ts, body))), body, errBadSignature},
		{"no secret configured", "", headers(ts, slackfake.Sign("", ts, body)), body, errNoSecret},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := verify(tt.secret, tt.h, tt.body, testNow); !errors.Is(err, tt.want) {
				t.Fatalf("verify = %v, want %v", err, tt.want)
			}
		})
	}
}

// The signing helper and the adapter must agree byte for byte.
func TestSignMatchesAdapter(t *testing.T) {
	body := []byte(`{"type":"url_verification"}`)
	if got, want := slackfake.Sign(testSecret, 42, body), signature(testSecret, "42", body); got != want {
		t.Fatalf("slackfake.Sign = %s, adapter = %s", got, want)
	}
}

// Every endpoint refuses unsigned or badly signed requests with 401 and
// does nothing: no handler call, no claim.
func TestEndpointsRefuseBadSignatures(t *testing.T) {
	h := newHarness(t, okReply, true, nil)
	cmd := slackfake.CommandForm(slackfake.Command{ChannelID: "C1", UserID: "U1", Text: "status"})
	bodies := map[string][]byte{
		"/slack/commands":     cmd,
		"/slack/interactions": slackfake.InteractionForm(slackfake.BlockActionsJSON(slackfake.BlockActions{UserID: "U1", ChannelID: "C1", MessageTS: "1.1", Actions: []slackfake.Action{{ActionID: "approve", Value: "RB-1|h"}}})),
		"/slack/events":       slackfake.URLVerificationJSON("chal"),
	}
	resign := func(at time.Time, body []byte) func(*http.Request) {
		return func(r *http.Request) {
			r.Header.Set(headerTimestamp, strconv.FormatInt(at.Unix(), 10))
			r.Header.Set(headerSignature, slackfake.Sign(testSecret, at.Unix(), body))
		}
	}
	for path, body := range bodies {
		mutations := map[string]func(*http.Request){
			"missing headers": func(r *http.Request) { r.Header.Del(headerSignature); r.Header.Del(headerTimestamp) },
			"wrong signature": func(r *http.Request) { r.Header.Set(headerSignature, "v0="+strings.Repeat("0", 64)) },
			"wrong secret": func(r *http.Request) {
				r.Header.Set(headerSignature, slackfake.Sign("not-the-secret", testNow.Unix(), body))
			},
			"stale":  resign(testNow.Add(-6*time.Minute), body),
			"future": resign(testNow.Add(6*time.Minute), body),
		}
		for name, mutate := range mutations {
			t.Run(path+"/"+name, func(t *testing.T) {
				if code, _ := h.post(t, path, slackfake.FormContentType, body, mutate); code != http.StatusUnauthorized {
					t.Fatalf("status = %d, want 401", code)
				}
			})
		}
	}
	if invs, clicks := h.handler.snapshot(); len(invs)+len(clicks) != 0 {
		t.Fatalf("handler called for refused requests: %v %v", invs, clicks)
	}
	if calls := h.fake.Calls(); len(calls) != 0 {
		t.Fatalf("Slack API called for refused requests: %v", calls)
	}
}

func TestBodyTooLarge(t *testing.T) {
	h := newHarness(t, okReply, true, func(c *AdapterConfig) { c.MaxBody = 1024 })
	big := slackfake.CommandForm(slackfake.Command{ChannelID: "C1", UserID: "U1", Text: strings.Repeat("x", 2048)})
	for _, path := range []string{"/slack/commands", "/slack/interactions", "/slack/events"} {
		if code, _ := h.post(t, path, slackfake.FormContentType, big, nil); code != http.StatusRequestEntityTooLarge {
			t.Errorf("%s: status = %d, want 413", path, code)
		}
		// Without Content-Length the limit still holds while reading.
		code, _ := h.post(t, path, slackfake.FormContentType, big, func(r *http.Request) { r.ContentLength = -1 })
		if code != http.StatusRequestEntityTooLarge {
			t.Errorf("%s chunked: status = %d, want 413", path, code)
		}
	}
}

func TestMethodNotAllowed(t *testing.T) {
	h := newHarness(t, okReply, false, nil)
	resp, err := h.srv.Client().Get(h.srv.URL + "/slack/commands")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET status = %d, want 405", resp.StatusCode)
	}
}
