// Package wait is the `uses: wait` executor: poll a PromQL condition or an
// HTTP URL until it holds, or give up when the step's timeout runs out. No
// data is not an answer: the wait goes on.
package wait

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	stdhttp "net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/backout/backout/internal/exec"
	httpexec "github.com/backout/backout/internal/exec/http"
	"github.com/backout/backout/internal/human"
	"github.com/backout/backout/internal/yamlx"
)

// minPollTimeout bounds a single poll, so one hung request cannot eat the
// whole wait when the interval is short.
const minPollTimeout = 10 * time.Second

// Config holds the defaults from the bot's configuration.
type Config struct {
	// PrometheusURL is used when a step sets no prometheus_url.
	PrometheusURL string
}

// Executor is the `uses: wait` executor.
type Executor struct {
	cfg    Config
	client *stdhttp.Client
}

// New returns the wait executor.
func New(cfg Config) *Executor {
	return &Executor{cfg: cfg, client: &stdhttp.Client{}}
}

// Name implements exec.Executor.
func (*Executor) Name() string { return "wait" }

// Validate implements exec.Executor.
func (e *Executor) Validate(with yamlx.Node) error {
	_, err := decode(with, false, e.cfg.PrometheusURL)
	return err
}

// Preview implements exec.Executor.
func (e *Executor) Preview(_ context.Context, req exec.Request) (string, error) {
	s, err := decode(req.With, true, e.cfg.PrometheusURL)
	if err != nil {
		return "", err
	}
	return preview(s, req), nil
}

func preview(s *spec, req exec.Request) string {
	every := "every " + human.Duration(s.interval)
	if req.Timeout > 0 {
		every += ", up to " + human.Duration(req.Timeout)
	}
	if s.Query != "" {
		return exec.Redact(fmt.Sprintf("wait until %s %s %s on %s (%s)", s.Query, op(s), s.boundText, s.promURL, every), req.Redact)
	}
	return exec.Redact(fmt.Sprintf("wait until GET %s answers %s (%s)", s.URL, httpexec.WantCodes(s.codes), every), req.Redact)
}

func op(s *spec) string {
	if s.below {
		return "<"
	}
	return ">"
}

// pollFunc checks once: met reports success, observed what was seen, and
// a non-nil error ends the wait at once (a query Prometheus rejects).
type pollFunc func(ctx context.Context) (met bool, observed string, err error)

// Run implements exec.Executor: it polls until the condition holds or the
// step's timeout (req.Timeout) runs out. Running out of time is a failure,
// not retryable: the wait already was the retry.
func (e *Executor) Run(ctx context.Context, req exec.Request) (exec.Result, error) {
	s, err := decode(req.With, true, e.cfg.PrometheusURL)
	if err != nil {
		return exec.Result{}, err
	}
	if req.DryRun {
		return exec.Result{Output: preview(s, req)}, nil
	}
	poll, err := e.poller(s)
	if err != nil {
		return exec.Result{}, err
	}
	wctx, cancel := req.WithTimeout(ctx)
	defer cancel()
	last := "nothing yet"
	for polls := 1; ; polls++ {
		pctx, pcancel := context.WithTimeout(wctx, max(s.interval, minPollTimeout))
		met, observed, err := poll(pctx)
		pcancel()
		if err != nil {
			return exec.Result{}, err
		}
		if wctx.Err() == nil {
			last = observed
		}
		detail := map[string]string{"polls": strconv.Itoa(polls), "last": last}
		if met {
			return exec.Result{Output: fmt.Sprintf("%s after %d poll(s)", observed, polls), Detail: detail}, nil
		}
		if req.Progress != nil {
			req.Progress(fmt.Sprintf("poll %d: %s", polls, last))
		}
		t := time.NewTimer(s.interval)
		select {
		case <-wctx.Done():
			t.Stop()
			return exec.Result{Output: "last seen: " + last, Detail: detail}, stopped(ctx, req.Timeout, polls, last)
		case <-t.C:
		}
	}
}

// stopped says why the wait ended unmet. The step's deadline usually fires
// on the caller's context a moment before this executor's own copy of it:
// either way, the step's time ran out.
func stopped(parent context.Context, timeout time.Duration, polls int, last string) error {
	switch {
	case errors.Is(parent.Err(), context.Canceled):
		return fmt.Errorf("wait cancelled after %d poll(s): %w", polls, parent.Err())
	case timeout > 0:
		return fmt.Errorf("condition not met within the step's timeout of %s (%d poll(s); last: %s)", timeout, polls, last)
	}
	return fmt.Errorf("condition not met before the step's deadline (%d poll(s); last: %s)", polls, last)
}

func (e *Executor) poller(s *spec) (pollFunc, error) {
	if s.URL != "" {
		return e.pollURL(s), nil
	}
	c, err := api.NewClient(api.Config{Address: s.promURL, Client: e.client})
	if err != nil {
		return nil, fmt.Errorf("prometheus_url: %w", err)
	}
	return pollQuery(promv1.NewAPI(c), s), nil
}

func pollQuery(q promv1.API, s *spec) pollFunc {
	return func(ctx context.Context) (bool, string, error) {
		val, _, _, err := q.Query(ctx, s.Query, time.Now())
		if err != nil {
			var perr *promv1.Error
			if errors.As(err, &perr) && perr.Type == promv1.ErrBadData {
				return false, "", fmt.Errorf("query rejected by Prometheus: %s", perr.Msg)
			}
			return false, "query failed: " + err.Error(), nil
		}
		var values []float64
		var labels []string
		switch v := val.(type) {
		case model.Vector:
			for _, smp := range v {
				values = append(values, float64(smp.Value))
				labels = append(labels, smp.Metric.String())
			}
		case *model.Scalar:
			values, labels = []float64{float64(v.Value)}, []string{"{}"}
		default:
			return false, "", fmt.Errorf("query returned a %s; want an instant vector or a scalar", val.Type())
		}
		if len(values) == 0 {
			return false, "no data", nil
		}
		met := true
		for _, x := range values {
			met = met && !math.IsNaN(x) && ((s.below && x < s.bound) || (!s.below && x > s.bound))
		}
		return met, describe(values, labels, op(s)+" "+s.boundText), nil
	}
}

// describe shows up to three series, e.g. `0.2 {pod="a"}, 0.01 {pod="b"} (want < 0.05)`.
func describe(values []float64, labels []string, bound string) string {
	var parts []string
	for i, v := range values {
		if i == 3 {
			parts = append(parts, fmt.Sprintf("and %d more", len(values)-3))
			break
		}
		p := strconv.FormatFloat(v, 'g', -1, 64)
		if labels[i] != "{}" {
			p += " " + labels[i]
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, ", ") + " (want " + bound + ")"
}

func (e *Executor) pollURL(s *spec) pollFunc {
	return func(ctx context.Context) (bool, string, error) {
		req, err := stdhttp.NewRequestWithContext(ctx, stdhttp.MethodGet, s.URL, nil)
		if err != nil {
			return false, "", fmt.Errorf("url: %w", err)
		}
		resp, err := e.client.Do(req)
		if err != nil {
			return false, "request failed: " + err.Error(), nil
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		return httpexec.StatusOK(resp.StatusCode, s.codes), "HTTP " + resp.Status, nil
	}
}
