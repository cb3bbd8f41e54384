package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// A duel measures several intake endpoints closed loop (each of n senders
// sends its next request as soon as the last is answered) with the same
// generator code and the same client, interleaved round by round, so that
// a shared, noisy machine slows every target alike and the ratios between
// them mean something even when the absolute rates drift.
//
//	loadgen --duel pagerduty=http://127.0.0.1:18080,alertmanager-webhook=http://127.0.0.1:18080,alertmanager=http://127.0.0.1:9093,bare \
//	        --inflight 32,256 --duration 10s --rounds 3 --markdown

// duelTarget is one contender: a kind of traffic and where it goes.
type duelTarget struct {
	kind, base string
}

func (d duelTarget) label() string {
	if d.kind == kindBare {
		return "bare net/http"
	}
	return d.kind + " → " + d.base
}

// parseDuel reads kind=url,kind=url,...; "bare" alone is the in-process
// bare handler.
func parseDuel(spec string) ([]duelTarget, error) {
	var out []duelTarget
	for _, f := range strings.Split(spec, ",") {
		f = strings.TrimSpace(f)
		if f == kindBare {
			out = append(out, duelTarget{kind: kindBare})
			continue
		}
		kind, base, ok := strings.Cut(f, "=")
		if !ok {
			return nil, fmt.Errorf("--duel: %q is not kind=url (or bare)", f)
		}
		if err := checkLoopbackURL(base); err != nil {
			return nil, err
		}
		out = append(out, duelTarget{kind: kind, base: strings.TrimRight(base, "/")})
	}
	return out, nil
}

func parseInflight(s string) ([]int, error) { return parseInts("--inflight", s, 1, 4096) }

// duelCell is one target at one concurrency in one round.
type duelCell struct {
	ok, other int // 2xx answers; anything else (non-2xx, transport errors)
	elapsed   time.Duration
}

func (c duelCell) rate() float64 { return float64(c.ok) / c.elapsed.Seconds() }

// runDuel runs rounds x inflight x targets cells and prints the medians.
func runDuel(ctx context.Context, o *options, out io.Writer) error {
	targets, err := parseDuel(o.duel)
	if err != nil {
		return err
	}
	inflight, err := parseInflight(o.inflight)
	if err != nil {
		return err
	}
	if bareIn(targets) {
		bare, err := startBare()
		if err != nil {
			return err
		}
		defer bare.Close(context.WithoutCancel(ctx))
		for i := range targets {
			if targets[i].kind == kindBare {
				targets[i].base = bare.URL()
			}
		}
	}
	runID := strconv.FormatInt(time.Now().UnixNano()%1e12, 36)
	cells := map[string][]duelCell{} // label@n -> one per round
	for round := range o.rounds {
		for _, n := range inflight {
			for ti, t := range targets {
				id := fmt.Sprintf("%sd%dn%dt%d", runID, round, n, ti)
				c, err := closedLoop(ctx, o, t, n, id)
				if err != nil {
					return err
				}
				key := fmt.Sprintf("%s@%d", t.label(), n)
				cells[key] = append(cells[key], c)
				fmt.Fprintf(out, "round %d  in flight %4d  %-60s %9.0f 2xx/s  (%d 2xx, %d other in %s)\n",
					round+1, n, t.label(), c.rate(), c.ok, c.other, c.elapsed.Round(time.Millisecond))
				if ctx.Err() != nil {
					return fmt.Errorf("interrupted: %w", ctx.Err())
				}
			}
		}
	}
	printDuel(out, o.markdown, targets, inflight, cells)
	return nil
}

func bareIn(ts []duelTarget) bool {
	return slices.ContainsFunc(ts, func(t duelTarget) bool { return t.kind == kindBare })
}

// closedLoop keeps n requests in flight at t for o.duration. Each sender
// has its own generator (ids unique per sender), built before the clock
// starts.
func closedLoop(ctx context.Context, o *options, t duelTarget, n int, runID string) (duelCell, error) {
	gens := make([]generator, n)
	for i := range gens {
		g, err := newGenerator(genConfig{kind: t.kind, slackSecret: o.slackSecret, pdSecret: o.pdSecret,
			amToken: o.amToken, runID: fmt.Sprintf("%ss%d", runID, i), seed: o.seed})
		if err != nil {
			return duelCell{}, err
		}
		gens[i] = g
	}
	client := newClient(n, o.timeout)
	defer client.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(ctx, o.duration+o.timeout)
	defer cancel()
	var ok, other atomic.Int64
	stop := time.Now().Add(o.duration)
	start := time.Now()
	var wg sync.WaitGroup
	for _, g := range gens {
		wg.Go(func() {
			for i := 0; time.Now().Before(stop) && ctx.Err() == nil; i++ {
				status, err := send(ctx, client, t.base, g.next(i, time.Now()))
				if err == nil && status >= 200 && status < 300 {
					ok.Add(1)
				} else {
					other.Add(1)
				}
			}
		})
	}
	wg.Wait()
	return duelCell{ok: int(ok.Load()), other: int(other.Load()), elapsed: time.Since(start)}, nil
}

// printDuel prints each target's median 2xx/s per concurrency and its ratio
// to Alertmanager's in the same round (median of the per-round ratios).
func printDuel(out io.Writer, markdown bool, targets []duelTarget, inflight []int, cells map[string][]duelCell) {
	var ref *duelTarget
	for i := range targets {
		if targets[i].kind == kindAlertmanagerAPI {
			ref = &targets[i]
		}
	}
	if markdown {
		fmt.Fprintln(out, "| target | in flight | 2xx/s (median) | per round | non-2xx | vs Alertmanager (median of rounds) |")
		fmt.Fprintln(out, "|---|---|---|---|---|---|")
	}
	for _, n := range inflight {
		for _, t := range targets {
			cs := cells[fmt.Sprintf("%s@%d", t.label(), n)]
			rates, others := make([]float64, len(cs)), 0
			var per []string
			for i, c := range cs {
				rates[i] = c.rate()
				others += c.other
				per = append(per, fmt.Sprintf("%.0f", c.rate()))
			}
			ratio := "—"
			if ref != nil {
				refs := cells[fmt.Sprintf("%s@%d", ref.label(), n)]
				rs := make([]float64, 0, len(cs))
				for i := range min(len(cs), len(refs)) {
					rs = append(rs, cs[i].rate()/refs[i].rate())
				}
				ratio = fmt.Sprintf("%.2f", median(rs))
			}
			if markdown {
				fmt.Fprintf(out, "| %s | %d | %.0f | %s | %d | %s |\n", t.label(), n, median(rates), strings.Join(per, ", "), others, ratio)
			} else {
				fmt.Fprintf(out, "in flight %4d  %-60s median %9.0f 2xx/s  non-2xx %d  vs alertmanager %s\n", n, t.label(), median(rates), others, ratio)
			}
		}
	}
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// Alertmanager traffic. amWebhookTemplate is what Alertmanager posts to a
// webhook receiver (one firing alert); %s are the group key, the alert's
// instance label (unique per request) and its start time.
const amWebhookTemplate = `{"version":"4","groupKey":"{}:{alertname=\"LoadgenHigh\",instance=\"%s\"}","truncatedAlerts":0,` +
	`"status":"firing","receiver":"backout","groupLabels":{"alertname":"LoadgenHigh"},` +
	`"commonLabels":{"alertname":"LoadgenHigh","service":"loadgen","severity":"page"},"commonAnnotations":{"summary":"loadgen"},` +
	`"externalURL":"http://alertmanager.invalid","alerts":[{"status":"firing","labels":{"alertname":"LoadgenHigh",` +
	`"instance":"%s","service":"loadgen","severity":"page"},"annotations":{"summary":"loadgen"},` +
	`"startsAt":"%s","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prometheus.invalid/graph","fingerprint":""}]}`

// amAlertTemplate is one alert as Prometheus posts it to Alertmanager's
// /api/v2/alerts; %s are the instance label and the start time.
const amAlertTemplate = `[{"labels":{"alertname":"LoadgenHigh","instance":"%s","service":"loadgen","severity":"page"},` +
	`"annotations":{"summary":"loadgen"},"startsAt":"%s","generatorURL":"http://prometheus.invalid/graph"}]`

// amGen makes every request a new alert (a new instance label), for
// Backout's Alertmanager webhook or for Alertmanager itself.
type amGen struct{ cfg genConfig }

func (g amGen) next(i int, now time.Time) request {
	inst := fmt.Sprintf("lg-%s-%d", g.cfg.runID, i)
	at := now.UTC().Format(time.RFC3339Nano)
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	if g.cfg.kind == kindAlertmanagerAPI {
		return request{path: "/api/v2/alerts", header: h, body: fmt.Appendf(nil, amAlertTemplate, inst, at)}
	}
	h.Set("Authorization", "Bearer "+g.cfg.amToken)
	return request{path: "/webhooks/alertmanager", header: h, body: fmt.Appendf(nil, amWebhookTemplate, inst, inst, at)}
}
