package validate

import (
	"fmt"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/backout/backout/internal/check"
	"github.com/backout/backout/internal/yamlx"
)

// baselineWindow is when a baseline is measured: a length of time just
// before the bad deploy (`baseline: 1h`, the deploy's time taken from the
// rollback record), or a named window (`baseline: {from: T, to: T}`, RFC
// 3339 times, which may be templates), for when the time before the deploy
// was not normal either.
type baselineWindow struct {
	before   time.Duration // before the deploy; zero for a named window
	from, to time.Time
}

type namedWindow struct {
	Pos    yamlx.Pos
	KeyPos map[string]yamlx.Pos
	From   string `yaml:"from"`
	To     string `yaml:"to"`
}

// parseBaselineWindow reads key as a duration or a {from, to} mapping;
// absent gives def before the deploy.
func parseBaselineWindow(f fields, key string, n yamlx.Node, def time.Duration) baselineWindow {
	if n.IsZero() || n.Node.Kind == yaml.ScalarNode {
		var s string
		if !n.IsZero() {
			s = n.Node.Value
		}
		return baselineWindow{before: f.duration(key, s, def)}
	}
	var w namedWindow
	if err := n.Decode(&w); err != nil {
		f.errs.Add(n.Pos(), fmt.Errorf("%s%s: %w", f.prefix, key, err))
		return baselineWindow{before: def}
	}
	nf := f.nested(key+".", w.Pos, w.KeyPos)
	out := baselineWindow{from: nf.timestamp("from", w.From), to: nf.timestamp("to", w.To)}
	if !out.from.IsZero() && !out.to.IsZero() && !out.from.Before(out.to) {
		nf.fail("to", "must be after from (%s)", w.From)
	}
	return out
}

// timestamp parses a required RFC 3339 time; zero when templated or bad.
func (f fields) timestamp(key, s string) time.Time {
	if !f.required(key, s, "an RFC 3339 time such as 2026-12-01T10:00:00Z") || f.templated(s) {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339, strings.TrimSpace(s))
	if err != nil {
		f.fail(key, "expected an RFC 3339 time such as 2026-12-01T10:00:00Z, got %q", s)
	}
	return t
}

// span is the window's start and end for a request.
func (w baselineWindow) span(req check.Request, checker string) (time.Time, time.Time, error) {
	if w.before == 0 {
		return w.from, w.to, nil
	}
	if req.BaselineEnd.IsZero() {
		return time.Time{}, time.Time{}, fmt.Errorf("%s: no baseline end (deploy time) for %s; name a window with baseline: {from, to}", checker, req.Service)
	}
	return req.BaselineEnd.Add(-w.before), req.BaselineEnd, nil
}

func (w baselineWindow) String() string {
	if w.before == 0 {
		return fmt.Sprintf("from %s to %s", w.from.UTC().Format(time.RFC3339), w.to.UTC().Format(time.RFC3339))
	}
	return fmt.Sprintf("%s before the deploy", w.before)
}
