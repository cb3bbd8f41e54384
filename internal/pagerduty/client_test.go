package pagerduty_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	pd "github.com/PagerDuty/go-pagerduty"

	"github.com/backout/backout/internal/config"
	"github.com/backout/backout/internal/incident"
	"github.com/backout/backout/internal/pagerduty"
)

// sleeps records the waits the retry policy asked for, without waiting.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.d = append(s.d, d)
	return ctx.Err()
}

func newClient(t *testing.T, f *fakePD, s *sleeps, routingKey string) *pagerduty.Client {
	t.Helper()
	c, err := pagerduty.New(pagerduty.Options{APIURL: f.srv.URL, EventsURL: f.srv.URL + "/", FromEmail: f.from, Token: f.token,
		RoutingKey: routingKey, Retry: pagerduty.RetryPolicy{Base: 100 * time.Millisecond, Max: 5 * time.Second, Sleep: s.sleep}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestWrites(t *testing.T) {
	tests := []struct {
		name   string
		do     func(context.Context, *pagerduty.Client) error
		method string
		path   string
		check  func(body map[string]any) bool
	}{
		{"note", func(ctx context.Context, c *pagerduty.Client) error {
			return c.Note(ctx, "Q1", "Rolled back checkout (RB-7)")
		},
			"POST", "/incidents/Q1/notes", func(b map[string]any) bool {
				return b["note"].(map[string]any)["content"] == "Rolled back checkout (RB-7)"
			}},
		{"acknowledge", func(ctx context.Context, c *pagerduty.Client) error { return c.Acknowledge(ctx, "Q1") },
			"PUT", "/incidents", func(b map[string]any) bool {
				inc := b["incidents"].([]any)[0].(map[string]any)
				return inc["id"] == "Q1" && inc["status"] == "acknowledged" && inc["type"] == "incident"
			}},
		{"resolve", func(ctx context.Context, c *pagerduty.Client) error { return c.Resolve(ctx, "Q1") },
			"PUT", "/incidents", func(b map[string]any) bool {
				return b["incidents"].([]any)[0].(map[string]any)["status"] == "resolved"
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakePD(t)
			if err := tt.do(context.Background(), newClient(t, f, &sleeps{}, "")); err != nil {
				t.Fatal(err)
			}
			calls := f.Calls()
			if len(calls) != 1 {
				t.Fatalf("%d calls", len(calls))
			}
			c := calls[0]
			if c.Method != tt.method || c.Path != tt.path || c.Auth != "Token token="+f.token || c.From != f.from || !tt.check(c.Body) {
				t.Fatalf("call %+v", c)
			}
		})
	}
}

func TestWrongTokenIsAnError(t *testing.T) {
	f := newFakePD(t)
	c, _ := pagerduty.New(pagerduty.Options{APIURL: f.srv.URL, FromEmail: f.from, Token: "wrong"})
	err := c.Note(context.Background(), "Q1", "x")
	var apiErr pd.APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 401 || !strings.Contains(err.Error(), "Q1") {
		t.Fatalf("err %v", err)
	}
}

func TestOnCall(t *testing.T) {
	f := newFakePD(t)
	got, err := newClient(t, f, &sleeps{}, "").OnCall(context.Background(), "PSVC1")
	if err != nil {
		t.Fatal(err)
	}
	want := []incident.Person{{Name: "Earline Greenholt", Email: "earline@example.com"},
		{Name: "Kelvin Mullins", Email: "kelvin@example.com"}, {Name: "Ref Only"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	calls := f.Calls()
	if len(calls) != 2 || calls[0].Path != "/services/PSVC1" || calls[1].Path != "/oncalls" {
		t.Fatalf("calls %+v", calls)
	}
	q, _ := url.ParseQuery(calls[1].Query)
	if q.Get("escalation_policy_ids[]") != "PEP1" || q.Get("include[]") != "users" {
		t.Fatalf("on-call query %q", calls[1].Query)
	}
	for _, c := range calls {
		if c.Auth != "Token token="+f.token {
			t.Errorf("%s without the token", c.Path)
		}
	}
}

func TestOnCallErrors(t *testing.T) {
	f := newFakePD(t)
	c := newClient(t, f, &sleeps{}, "")
	if _, err := c.OnCall(context.Background(), "PNOEP"); err == nil || !strings.Contains(err.Error(), "no escalation policy") {
		t.Fatalf("err %v", err)
	}
	if _, err := c.OnCall(context.Background(), "PMISSING"); err == nil {
		t.Fatal("want an error for an unknown service")
	}
}

func TestPage(t *testing.T) {
	f := newFakePD(t)
	err := newClient(t, f, &sleeps{}, "R0UTINGKEY").Page(context.Background(), "backout/RB-7/validation",
		"RB-7: validation failed for checkout", "CRITICAL", map[string]string{"rollback": "RB-7"})
	if err != nil {
		t.Fatal(err)
	}
	c := f.Calls()[0]
	p, _ := c.Body["payload"].(map[string]any)
	if c.Path != "/v2/enqueue" || c.Body["routing_key"] != "R0UTINGKEY" || c.Body["event_action"] != "trigger" ||
		c.Body["dedup_key"] != "backout/RB-7/validation" || p["source"] != "backout" || p["severity"] != "critical" ||
		p["summary"] != "RB-7: validation failed for checkout" || p["custom_details"].(map[string]any)["rollback"] != "RB-7" {
		t.Fatalf("call %+v", c)
	}
	if c.Auth != "" {
		t.Error("the REST token leaked to the Events API")
	}
}

func TestPageWithoutRoutingKeyDoesNothing(t *testing.T) {
	f := newFakePD(t)
	if err := newClient(t, f, &sleeps{}, "").Page(context.Background(), "k", "s", "info", nil); err != nil || len(f.Calls()) != 0 {
		t.Fatalf("err %v, calls %d", err, len(f.Calls()))
	}
}

func TestRetries(t *testing.T) {
	tests := []struct {
		name      string
		path      string
		fail      []failure
		do        func(context.Context, *pagerduty.Client) error
		wantErr   bool
		wantCalls int
		wantSleep func([]time.Duration) bool
	}{
		{"429 then 200 honours Retry-After", "/incidents/Q1/notes", []failure{{429, "2"}},
			func(ctx context.Context, c *pagerduty.Client) error { return c.Note(ctx, "Q1", "x") }, false, 2,
			func(d []time.Duration) bool { return len(d) == 1 && d[0] == 2*time.Second }},
		{"503 then 200 backs off", "/incidents", []failure{{503, ""}, {502, ""}},
			func(ctx context.Context, c *pagerduty.Client) error { return c.Acknowledge(ctx, "Q1") }, false, 3,
			func(d []time.Duration) bool {
				return len(d) == 2 && d[0] >= 50*time.Millisecond && d[0] <= 100*time.Millisecond &&
					d[1] >= 100*time.Millisecond && d[1] <= 200*time.Millisecond
			}},
		{"Events API 429 then 202", "/v2/enqueue", []failure{{429, "1"}},
			func(ctx context.Context, c *pagerduty.Client) error { return c.Page(ctx, "k", "s", "error", nil) }, false, 2,
			func(d []time.Duration) bool { return len(d) == 1 && d[0] == time.Second }},
		{"GET retried too", "/oncalls", []failure{{500, ""}},
			func(ctx context.Context, c *pagerduty.Client) error { _, err := c.OnCall(ctx, "PSVC1"); return err }, false, 3,
			func(d []time.Duration) bool { return len(d) == 1 }},
		{"400 not retried", "/incidents/Q1/notes", []failure{{400, ""}},
			func(ctx context.Context, c *pagerduty.Client) error { return c.Note(ctx, "Q1", "x") }, true, 1,
			func(d []time.Duration) bool { return len(d) == 0 }},
		{"bounded", "/incidents", []failure{{503, ""}, {503, ""}, {503, ""}, {503, ""}, {503, ""}},
			func(ctx context.Context, c *pagerduty.Client) error { return c.Resolve(ctx, "Q1") }, true, 4,
			func(d []time.Duration) bool { return len(d) == 3 }},
		{"Retry-After beyond the cap is not waited for", "/incidents", []failure{{429, "3600"}},
			func(ctx context.Context, c *pagerduty.Client) error { return c.Resolve(ctx, "Q1") }, true, 1,
			func(d []time.Duration) bool { return len(d) == 0 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, s := newFakePD(t), &sleeps{}
			f.failFirst(tt.path, tt.fail...)
			err := tt.do(context.Background(), newClient(t, f, s, "R0UTINGKEY"))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err %v, want error %v", err, tt.wantErr)
			}
			calls := f.Calls()
			if len(calls) != tt.wantCalls {
				t.Fatalf("%d calls, want %d: %+v", len(calls), tt.wantCalls, calls)
			}
			for _, c := range calls {
				if c.Method != "GET" && c.Path != "/v2/enqueue" && c.From != f.from {
					t.Errorf("retried %s %s lost its From header", c.Method, c.Path)
				}
				if c.Method != "GET" && c.Body == nil {
					t.Errorf("retried %s %s lost its body", c.Method, c.Path)
				}
			}
			if !tt.wantSleep(s.d) {
				t.Errorf("waits %v", s.d)
			}
		})
	}
}

func TestNewChecksSettings(t *testing.T) {
	for _, o := range []pagerduty.Options{{FromEmail: "a@b"}, {Token: "t"}} {
		if _, err := pagerduty.New(o); err == nil {
			t.Errorf("New(%+v) accepted", o)
		}
	}
}

func TestOptionsFromConfig(t *testing.T) {
	c := config.PagerDutyConfig{APIURL: "http://api", EventsURL: "http://events", FromEmail: "bot@x", RoutingKeyEnv: "PD_ROUTING"}
	s := config.Secrets{PagerDutyToken: "tok"}
	o, err := pagerduty.OptionsFromConfig(c, s, func(k string) string { return map[string]string{"PD_ROUTING": "rk"}[k] })
	if err != nil || o.Token != "tok" || o.RoutingKey != "rk" || o.APIURL != "http://api" || o.FromEmail != "bot@x" {
		t.Fatalf("%+v %v", o, err)
	}
	if _, err := pagerduty.OptionsFromConfig(c, s, func(string) string { return "" }); err == nil || !strings.Contains(err.Error(), "PD_ROUTING") {
		t.Fatalf("err %v", err)
	}
}

func TestContextCancelStopsRetrying(t *testing.T) {
	f := newFakePD(t)
	f.failFirst("/incidents", failure{503, ""}, failure{503, ""})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c := newClient(t, f, &sleeps{}, "")
	if err := c.Resolve(ctx, "Q1"); err == nil {
		t.Fatal("want an error")
	}
	if n := len(f.Calls()); n > 1 {
		t.Fatalf("%d calls after cancel", n)
	}
}
