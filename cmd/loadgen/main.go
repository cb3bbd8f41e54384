// Command loadgen drives Backout's HTTP endpoints with signed Slack and
// PagerDuty traffic at a fixed rate and reports throughput and latency; it
// can also stand in for Slack's Web API, measure a bare net/http handler for
// comparison, and time a server's start. It only ever talks to loopback
// addresses. See docs/performance.md for the measurements made with it.
//
//	loadgen --kind pagerduty --rate 1000,5000 --duration 20s --concurrency 64 --bare
//	loadgen --fake-slack 127.0.0.1:9900 --serve-only --duration 10m
//	loadgen --duel pagerduty=http://127.0.0.1:18080,alertmanager=http://127.0.0.1:9093,bare --inflight 32,256
//	loadgen --ready-exec "/tmp/bot serve --config bot.yaml" --ready-runs 5 --idle 5s
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type options struct {
	target, kind, rates       string
	duration, timeout, idle   time.Duration
	concurrency, readyRuns    int
	slackSecret, pdSecret     string
	dup                       float64
	bare, serveOnly, markdown bool
	fakeSlack, responseURL    string
	readyExec                 string
	seed                      uint64
	duel, inflight, amToken   string
	rounds                    int
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string, getenv func(string) string) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.StringVar(&o.target, "target", "http://127.0.0.1:8080", "base URL of the server under test (loopback only)")
	fs.StringVar(&o.kind, "kind", kindPagerDuty, "traffic: slack-command | slack-click | pagerduty | alertmanager-webhook | alertmanager | bare")
	fs.StringVar(&o.rates, "rate", "500", "requests per second; a comma list runs each rate in turn")
	fs.DurationVar(&o.duration, "duration", 20*time.Second, "how long each rate runs (with --serve-only: how long to serve)")
	fs.IntVar(&o.concurrency, "concurrency", 64, "most requests in flight")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Second, "per-request timeout")
	fs.StringVar(&o.slackSecret, "slack-secret", getenv("SLACK_SIGNING_SECRET"), "Slack signing secret (default $SLACK_SIGNING_SECRET)")
	fs.StringVar(&o.pdSecret, "pd-secret", firstSecret(getenv("PAGERDUTY_WEBHOOK_SECRET")), "PagerDuty webhook secret (default $PAGERDUTY_WEBHOOK_SECRET)")
	fs.Float64Var(&o.dup, "dup", 0, "fraction of PagerDuty deliveries that resend an earlier event, in [0, 1)")
	fs.BoolVar(&o.bare, "bare", false, "also measure an in-process bare net/http handler with the same requests")
	fs.StringVar(&o.fakeSlack, "fake-slack", "", "serve a fake Slack Web API on this loopback address (e.g. 127.0.0.1:9900)")
	fs.BoolVar(&o.serveOnly, "serve-only", false, "with --fake-slack: only serve, send no load")
	fs.StringVar(&o.responseURL, "response-url", "", "response_url in slash commands (default: the fake Slack's, when started)")
	fs.BoolVar(&o.markdown, "markdown", false, "also print a Markdown table of the runs")
	fs.StringVar(&o.readyExec, "ready-exec", "", "measure start-to-ready of this command line (split on spaces, no shell)")
	fs.IntVar(&o.readyRuns, "ready-runs", 5, "starts to average with --ready-exec")
	fs.DurationVar(&o.idle, "idle", 5*time.Second, "with --ready-exec: idle time before reading RSS")
	fs.Uint64Var(&o.seed, "seed", 1, "seed for the duplicate choice")
	fs.StringVar(&o.duel, "duel", "", "closed-loop comparison of kind=url,... (and bare), interleaved per round (see duel.go)")
	fs.StringVar(&o.inflight, "inflight", "32,256", "with --duel: requests in flight, a comma list")
	fs.IntVar(&o.rounds, "rounds", 3, "with --duel: rounds; each runs every target at every --inflight")
	fs.StringVar(&o.amToken, "am-token", getenv("ALERTMANAGER_TOKEN"), "Backout's Alertmanager webhook bearer token (default $ALERTMANAGER_TOKEN)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if err := checkLoopbackURL(o.target); err != nil {
		return nil, err
	}
	o.target = strings.TrimRight(o.target, "/")
	if o.concurrency < 1 || o.concurrency > 4096 {
		return nil, fmt.Errorf("--concurrency must be 1..4096, got %d", o.concurrency)
	}
	if o.duration <= 0 || o.duration > 30*time.Minute {
		return nil, fmt.Errorf("--duration must be in (0, 30m], got %s", o.duration)
	}
	if o.rounds < 1 || o.rounds > 50 {
		return nil, fmt.Errorf("--rounds must be 1..50, got %d", o.rounds)
	}
	if o.readyRuns < 1 || o.readyRuns > 50 {
		return nil, fmt.Errorf("--ready-runs must be 1..50, got %d", o.readyRuns)
	}
	return o, nil
}

// firstSecret: the bot accepts several comma-separated secrets during a
// rotation; loadgen signs with the first.
func firstSecret(v string) string {
	first, _, _ := strings.Cut(v, ",")
	return strings.TrimSpace(first)
}

func parseRates(s string) ([]int, error) { return parseInts("--rate", s, 1, 100_000) }

// parseInts reads a comma list of integers, each in lo..hi.
func parseInts(flagName, s string, lo, hi int) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < lo || n > hi {
			return nil, fmt.Errorf("%s: %q is not in %d..%d", flagName, f, lo, hi)
		}
		out = append(out, n)
	}
	return out, nil
}

// checkLoopbackURL refuses any target that is not this machine: a load
// generator pointed elsewhere is an attack, not a measurement.
func checkLoopbackURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--target %q is not an http(s) URL", raw)
	}
	return checkLoopbackHost(u.Hostname())
}

func checkLoopbackHost(host string) error {
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("refusing %q: loadgen only sends to loopback addresses (127.0.0.0/8, ::1, localhost)", host)
}

// loopbackAddr fills in 127.0.0.1 for ":PORT" and refuses other hosts.
func loopbackAddr(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("--fake-slack %q: %w", addr, err)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	if err := checkLoopbackHost(host); err != nil {
		return "", err
	}
	return net.JoinHostPort(host, port), nil
}

func run(ctx context.Context, args []string, out io.Writer, getenv func(string) string) error {
	o, err := parseFlags(args, getenv)
	if err != nil {
		return err
	}
	if o.readyExec != "" {
		return runReady(ctx, o, out)
	}
	if o.duel != "" {
		return runDuel(ctx, o, out)
	}
	if o.fakeSlack != "" {
		addr, err := loopbackAddr(o.fakeSlack)
		if err != nil {
			return err
		}
		fake, err := startFakeSlack(addr)
		if err != nil {
			return err
		}
		defer fake.Close(context.WithoutCancel(ctx))
		fmt.Fprintf(out, "fake slack: api_url %s  response_url %s\n", fake.APIURL(), fake.ResponseURL())
		if o.responseURL == "" {
			o.responseURL = fake.ResponseURL()
		}
		if o.serveOnly {
			serveFor(ctx, o.duration)
			fmt.Fprintf(out, "fake slack answered %d calls\n", fake.calls.Load())
			return nil
		}
	}
	return runLoad(ctx, o, out)
}

func serveFor(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

func runLoad(ctx context.Context, o *options, out io.Writer) error {
	rates, err := parseRates(o.rates)
	if err != nil {
		return err
	}
	runID := strconv.FormatInt(time.Now().UnixNano()%1e12, 36)
	var bare *bareServer
	if o.bare {
		if bare, err = startBare(); err != nil {
			return err
		}
		defer bare.Close(context.WithoutCancel(ctx))
	}
	var rows []string
	for _, rate := range rates {
		targets := []struct{ label, base string }{{o.kind + " → " + o.target, o.target}}
		if bare != nil {
			targets = append(targets, struct{ label, base string }{o.kind + " → bare net/http", bare.URL()})
		}
		for ti, t := range targets {
			// Ids stay unique across rates and targets sharing one store.
			id := fmt.Sprintf("%sr%dt%d", runID, rate, ti)
			gen, err := newGenerator(genConfig{kind: o.kind, slackSecret: o.slackSecret, pdSecret: o.pdSecret,
				dupFraction: o.dup, responseURL: o.responseURL, runID: id, seed: o.seed})
			if err != nil {
				return err
			}
			client := newClient(o.concurrency, o.timeout)
			res, err := runRate(ctx, runConfig{base: t.base, rate: rate, duration: o.duration, concurrency: o.concurrency, timeout: o.timeout}, gen, client)
			client.CloseIdleConnections()
			if err != nil {
				return err
			}
			s := summarize(t.label, rate, res)
			s.print(out)
			rows = append(rows, s.row())
			if ctx.Err() != nil {
				return errors.New("interrupted")
			}
		}
	}
	if o.markdown {
		fmt.Fprintln(out, tableHeader)
		for _, r := range rows {
			fmt.Fprintln(out, r)
		}
	}
	return nil
}

func runReady(ctx context.Context, o *options, out io.Writer) error {
	res, err := measureReady(ctx, readyConfig{base: o.target, argv: strings.Fields(o.readyExec), runs: o.readyRuns,
		idle: o.idle, limit: 10 * time.Second}, out)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "ready: mean %s over %d runs\n", ms(mean(res.Ready)), len(res.Ready))
	if res.RSSKiB > 0 {
		fmt.Fprintf(out, "rss after %s idle: %d KiB (%.1f MiB)\n", o.idle, res.RSSKiB, float64(res.RSSKiB)/1024)
	}
	return nil
}
