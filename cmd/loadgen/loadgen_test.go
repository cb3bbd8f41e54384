package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	slackgo "github.com/slack-go/slack"

	"github.com/backout/backout/internal/alerts/pagerduty"
)

func TestLoopbackOnly(t *testing.T) {
	for _, tc := range []struct {
		target string
		ok     bool
	}{
		{"http://127.0.0.1:8080", true},
		{"http://127.9.9.9:1", true},
		{"http://[::1]:8080", true},
		{"https://localhost:8443/", true},
		{"http://10.0.0.1:8080", false},
		{"http://192.168.1.10", false},
		{"http://0.0.0.0:8080", false},
		{"http://example.com", false},
		{"http://localhost.example.com", false},
		{"ftp://127.0.0.1", false},
		{"127.0.0.1:8080", false},
	} {
		_, err := parseFlags([]string{"--target", tc.target}, func(string) string { return "" })
		if (err == nil) != tc.ok {
			t.Errorf("target %q: err = %v, want ok=%v", tc.target, err, tc.ok)
		}
	}
	for addr, ok := range map[string]bool{":9900": true, "127.0.0.1:9900": true, "0.0.0.0:9900": false, "10.1.1.1:80": false} {
		if _, err := loopbackAddr(addr); (err == nil) != ok {
			t.Errorf("fake slack addr %q: err = %v, want ok=%v", addr, err, ok)
		}
	}
}

func TestPagerDutyDeliveriesAreSignedAndUnique(t *testing.T) {
	for _, dup := range []float64{0, 0.3} {
		gen, err := newGenerator(genConfig{kind: kindPagerDuty, pdSecret: "s3cret", dupFraction: dup, runID: "t", seed: 7})
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string][]byte{}
		dups := 0
		const n = 2000
		for i := range n {
			r := gen.next(i, time.Now())
			if !pagerduty.Verify(r.body, r.header.Get(pagerduty.SignatureHeader), []string{"s3cret"}) {
				t.Fatalf("delivery %d does not verify", i)
			}
			env, err := pagerduty.Decode(r.body)
			if err != nil {
				t.Fatalf("delivery %d does not decode: %v", i, err)
			}
			if prev, ok := seen[env.Event.ID]; ok {
				if !bytes.Equal(prev, r.body) {
					t.Fatalf("event %s resent with a different body", env.Event.ID)
				}
				dups++
			}
			seen[env.Event.ID] = r.body
		}
		if got := float64(dups) / n; got < dup*0.7 || got > dup*1.3 {
			t.Errorf("dup=%v: %d of %d deliveries were resends", dup, dups, n)
		}
	}
	if _, err := newGenerator(genConfig{kind: kindPagerDuty, pdSecret: "x", dupFraction: 1}); err == nil {
		t.Error("--dup 1 accepted")
	}
	if _, err := newGenerator(genConfig{kind: kindPagerDuty}); err == nil {
		t.Error("pagerduty without a secret accepted")
	}
}

func TestSlackRequestsSignedLikeSlack(t *testing.T) {
	for _, kind := range []string{kindSlackCommand, kindSlackClick} {
		gen, err := newGenerator(genConfig{kind: kind, slackSecret: "8f742231b10e8888abcd99yyyzzz85a5", runID: "t", responseURL: "http://127.0.0.1:1/response"})
		if err != nil {
			t.Fatal(err)
		}
		keys := map[string]bool{}
		for i := range 50 {
			r := gen.next(i, time.Unix(1531420618, 0))
			ts := r.header.Get("X-Slack-Request-Timestamp")
			mac := hmac.New(sha256.New, []byte("8f742231b10e8888abcd99yyyzzz85a5"))
			fmt.Fprintf(mac, "v0:%s:%s", ts, r.body)
			if want := "v0=" + hex.EncodeToString(mac.Sum(nil)); r.header.Get("X-Slack-Signature") != want || ts != "1531420618" {
				t.Fatalf("%s: signature %q, want %q", kind, r.header.Get("X-Slack-Signature"), want)
			}
			form, err := url.ParseQuery(string(r.body))
			if err != nil {
				t.Fatal(err)
			}
			key := form.Get("trigger_id")
			if kind == kindSlackClick {
				var p struct {
					Type    string `json:"type"`
					Actions []struct {
						ActionTS string `json:"action_ts"`
					} `json:"actions"`
				}
				if err := json.Unmarshal([]byte(form.Get("payload")), &p); err != nil || p.Type != "block_actions" || len(p.Actions) != 1 {
					t.Fatalf("click payload: %v %+v", err, p)
				}
				key = p.Actions[0].ActionTS
			}
			if key == "" || keys[key] {
				t.Fatalf("%s: request %d reuses dedup key %q", kind, i, key)
			}
			keys[key] = true
		}
	}
}

func TestQuantiles(t *testing.T) {
	ds := make([]time.Duration, 100)
	for i := range ds {
		ds[i] = time.Duration(100-i) * time.Millisecond
	}
	got := quantiles(ds)
	want := percentiles{P50: 50 * time.Millisecond, P90: 90 * time.Millisecond, P99: 99 * time.Millisecond, Max: 100 * time.Millisecond}
	if got != want {
		t.Errorf("quantiles = %+v, want %+v", got, want)
	}
	if (quantiles(nil) != percentiles{}) {
		t.Error("quantiles of nothing is not zero")
	}
	if one := quantiles([]time.Duration{3}); one.P50 != 3 || one.P99 != 3 {
		t.Errorf("one sample: %+v", one)
	}
}

// TestOpenLoopAccounting: every scheduled request is either sent or counted
// unsent, and against a server slower than the rate the latency from the
// due time is never less than the time on the wire.
func TestOpenLoopAccounting(t *testing.T) {
	for _, tc := range []struct {
		name  string
		delay time.Duration
		conc  int
	}{{"fast", 0, 16}, {"slow", 20 * time.Millisecond, 2}} {
		t.Run(tc.name, func(t *testing.T) {
			var hits atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
				_, _ = io.Copy(io.Discard, r.Body)
				time.Sleep(tc.delay)
				w.WriteHeader(http.StatusAccepted)
			}))
			defer srv.Close()
			res, err := runRate(context.Background(), runConfig{base: srv.URL, rate: 200, duration: 300 * time.Millisecond,
				concurrency: tc.conc, timeout: 5 * time.Second}, bareGen{}, newClient(tc.conc, 5*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			s := summarize(tc.name, 200, res)
			if s.Scheduled != 60 || s.Sent+s.Unsent != s.Scheduled || int64(s.Sent) != hits.Load() || s.OK != s.Sent {
				t.Fatalf("accounting: %+v, server saw %d", s, hits.Load())
			}
			for i, o := range res.outcomes {
				if o.status > 0 && o.latency < o.service {
					t.Fatalf("request %d: latency %v below service time %v", i, o.latency, o.service)
				}
			}
		})
	}
}

// TestFakeSlackSatisfiesClient: the Web API client the bot uses accepts
// the fake's answers for the calls made under load.
func TestFakeSlackSatisfiesClient(t *testing.T) {
	fake, err := startFakeSlack("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close(context.Background())
	api := slackgo.New("xoxb-test", slackgo.OptionAPIURL(fake.APIURL()))
	if _, err := api.AuthTest(); err != nil {
		t.Fatalf("auth.test: %v", err)
	}
	if _, ts, err := api.PostMessage("C0LOAD", slackgo.MsgOptionText("hi", false)); err != nil || ts == "" {
		t.Fatalf("chat.postMessage: ts=%q err=%v", ts, err)
	}
	if _, err := api.PostEphemeral("C0LOAD", "U1", slackgo.MsgOptionText("hi", false)); err != nil {
		t.Fatalf("chat.postEphemeral: %v", err)
	}
	resp, err := http.Post(fake.ResponseURL(), "application/json", strings.NewReader(`{"text":"x"}`))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("response_url: %v %v", resp, err)
	}
	resp.Body.Close()
}

// TestRunWithBare drives the whole command against a loopback server and
// the in-process bare handler.
func TestRunWithBare(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) }))
	defer srv.Close()
	var out bytes.Buffer
	err := run(context.Background(), []string{"--target", srv.URL, "--kind", "bare", "--rate", "100,200", "--duration", "100ms",
		"--bare", "--markdown"}, &out, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"bare → " + srv.URL + " @ 100/s", "bare → bare net/http @ 200/s", "418×10", "| bare → bare net/http | 200 | 20 | 20 | none | 0 |"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

// TestMeasureReady starts this test binary as a server that becomes ready
// after a while, and times it.
func TestMeasureReady(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	t.Setenv("LOADGEN_HELPER_ADDR", addr)
	var out bytes.Buffer
	res, err := measureReady(context.Background(), readyConfig{base: "http://" + addr,
		argv: []string{os.Args[0], "-test.run=^TestHelperServer$"}, runs: 2, idle: 10 * time.Millisecond, limit: 10 * time.Second}, &out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if len(res.Ready) != 2 || res.RSSKiB <= 0 {
		t.Fatalf("result %+v", res)
	}
	for _, d := range res.Ready {
		if d < 50*time.Millisecond { // the helper is not ready before it says so
			t.Errorf("ready after %v, before the helper could be", d)
		}
	}
}

// TestHelperServer is the child process of TestMeasureReady.
func TestHelperServer(t *testing.T) {
	addr := os.Getenv("LOADGEN_HELPER_ADDR")
	if addr == "" {
		t.Skip("helper process only")
	}
	started := time.Now()
	srv := &http.Server{Addr: addr, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if time.Since(started) < 50*time.Millisecond {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})}
	go func() { _ = srv.ListenAndServe() }()
	time.Sleep(30 * time.Second) // killed by SIGTERM long before
}
