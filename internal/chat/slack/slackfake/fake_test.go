package slackfake

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// The example from Slack's "Verifying requests from Slack" documentation.
func TestSignSlackDocumentationVector(t *testing.T) {
	body := "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
	got := Sign("8f742231b10e8888abcd99yyyzzz85a5", 1531420618, []byte(body))
	if want := "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"; got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
}

func TestCommandFormLooksLikeSlack(t *testing.T) {
	body := string(CommandForm(Command{ChannelID: "C1", UserID: "U1", Text: "propose checkout v1.2.3", ResponseURL: "https://hooks.slack.com/commands/T/1/x"}))
	if !strings.HasPrefix(body, "token=") || !strings.Contains(body, "command=%2Frollback") || !strings.Contains(body, "text=propose+checkout+v1.2.3") {
		t.Fatalf("body = %s", body)
	}
	v, err := url.ParseQuery(body)
	if err != nil || v.Get("response_url") != "https://hooks.slack.com/commands/T/1/x" {
		t.Fatalf("round trip: %v %v", v, err)
	}
}

func call(t *testing.T, s *Server, method, token string, form url.Values) (int, http.Header, map[string]any) {
	t.Helper()
	if token != "" {
		form.Set("token", token)
	}
	resp, err := s.Client().PostForm(s.APIURL()+method, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return resp.StatusCode, resp.Header, out
}

func TestAPIAnswers(t *testing.T) {
	s := New()
	defer s.Close()
	s.SetUser("U1", "ada")
	tests := []struct {
		name, method, token string
		form                url.Values
		wantErr             string
	}{
		{"no token", "auth.test", "", url.Values{}, "not_authed"},
		{"wrong token", "auth.test", "xoxb-nope", url.Values{}, "invalid_auth"},
		{"app token for bot method", "auth.test", AppToken, url.Values{}, "invalid_auth"},
		{"auth ok", "auth.test", BotToken, url.Values{}, ""},
		{"unknown method", "chat.meMessage", BotToken, url.Values{}, "unknown_method"},
		{"update of unknown message", "chat.update", BotToken, url.Values{"channel": {"C1"}, "ts": {"1.1"}, "text": {"x"}}, "message_not_found"},
		{"post without text", "chat.postMessage", BotToken, url.Values{"channel": {"C1"}}, "no_text"},
		{"user info", "users.info", BotToken, url.Values{"user": {"U1"}}, ""},
		{"unknown user", "users.info", BotToken, url.Values{"user": {"U9"}}, "user_not_found"},
		{"unknown group", "usergroups.users.list", BotToken, url.Values{"usergroup": {"S9"}}, "no_such_subteam"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, out := call(t, s, tt.method, tt.token, tt.form)
			gotErr, _ := out["error"].(string)
			if code != http.StatusOK || gotErr != tt.wantErr || (tt.wantErr == "") != (out["ok"] == true) {
				t.Fatalf("answer %d %v, want error %q", code, out, tt.wantErr)
			}
		})
	}
	if calls := s.Calls("auth.test"); len(calls) != 4 || calls[3].Token != BotToken {
		t.Fatalf("recorded auth.test calls = %+v", calls)
	}
}

func TestInjectedFaults(t *testing.T) {
	s := New()
	defer s.Close()
	s.RateLimit("chat.postMessage", 2, 7)
	form := url.Values{"channel": {"C1"}, "text": {"hi"}}
	for range 2 {
		code, h, _ := call(t, s, "chat.postMessage", BotToken, form)
		if code != http.StatusTooManyRequests || h.Get("Retry-After") != "7" {
			t.Fatalf("answer %d Retry-After %q, want 429 / 7", code, h.Get("Retry-After"))
		}
	}
	code, _, out := call(t, s, "chat.postMessage", BotToken, form)
	if code != http.StatusOK || out["ts"] == nil {
		t.Fatalf("after faults: %d %v", code, out)
	}
	_, _, second := call(t, s, "chat.postMessage", BotToken, form)
	if second["ts"] == out["ts"] {
		t.Fatal("ts did not increase")
	}
	s.FailStatus("auth.test", 1, http.StatusServiceUnavailable)
	if code, _, _ := call(t, s, "auth.test", BotToken, url.Values{}); code != http.StatusServiceUnavailable {
		t.Fatalf("FailStatus: %d", code)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if calls, err := s.WaitCalls(ctx, "chat.postMessage", 4); err != nil || calls[0].Status != http.StatusTooManyRequests {
		t.Fatalf("WaitCalls: %v %v", calls, err)
	}
}
