package validate

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/backout/backout/internal/check"
	"github.com/backout/backout/internal/runbook"
)

// Clock is the time the runner reads and waits on; tests use a fake.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

// SystemClock is the real clock.
type SystemClock struct{}

// Now implements Clock.
func (SystemClock) Now() time.Time { return time.Now() }

// After implements Clock.
func (SystemClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Runner defaults, as in Argo Rollouts analysis (count and interval are
// runbook.DefaultCheckCount and runbook.DefaultCheckInterval).
const (
	DefaultConsecutiveErrorLimit = 4
	// MeasureTimeout bounds one measurement, so a hung query becomes an
	// Error measurement instead of a hung check.
	MeasureTimeout = 30 * time.Second
)

// Result is how a whole check ended.
type Result struct {
	Outcome check.Outcome
	Value   string // of the measurement that decided the outcome
	Bound   string
	Message string
	// Measurements are every measurement taken, errors included, in order.
	Measurements []check.Measurement
}

// tally counts measurements by outcome.
type tally struct {
	successful, failed, inconclusive, errors, consecutiveErrors int
}

func (t *tally) add(o check.Outcome) {
	if o == check.Error {
		t.errors++
		t.consecutiveErrors++
		return
	}
	t.consecutiveErrors = 0
	switch o {
	case check.Successful:
		t.successful++
	case check.Failed:
		t.failed++
	case check.Inconclusive:
		t.inconclusive++
	}
}

// taken counts measurements that produced an outcome; errors are retried
// and do not use up the count.
func (t tally) taken() int { return t.successful + t.failed + t.inconclusive }

func (t tally) String() string {
	var parts []string
	for _, p := range []struct {
		n    int
		name string
	}{{t.successful, "successful"}, {t.failed, "failed"}, {t.inconclusive, "inconclusive"}, {t.errors, "errors"}} {
		if p.n == 1 && p.name == "errors" {
			p.name = "error"
		}
		if p.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", p.n, p.name))
		}
	}
	return strings.Join(parts, ", ")
}

// Run measures a check count times (default 1), interval apart (default
// 30s), the first at once (the caller has already waited out the settling
// delay), and ends early as Argo Rollouts does: Failed once
// failures exceed failure_limit (default 0), Inconclusive once inconclusive
// measurements exceed inconclusive_limit (default 0), Error once consecutive
// errors exceed consecutive_error_limit (default 4; 0 in the runbook means
// the default). Errored measurements are retried at the next interval and
// do not count towards count. When ctx ends first the result is Error. The
// caller bounds the whole check (the validation window) through ctx.
// measured, when not nil, hears each measurement as it lands.
func Run(ctx context.Context, clock Clock, checker check.Checker, spec runbook.Check, req check.Request, measured func(check.Measurement)) Result {
	count, interval := spec.Measurements()
	errLimit := spec.ConsecutiveErrorLimit
	if errLimit <= 0 {
		errLimit = DefaultConsecutiveErrorLimit
	}
	var res Result
	var t tally
	var last check.Measurement // the latest measurement with an outcome
	for {
		req.Now = clock.Now()
		m := measure(ctx, checker, req)
		m.At = req.Now
		res.Measurements = append(res.Measurements, m)
		if measured != nil {
			measured(m)
		}
		t.add(m.Outcome)
		if m.Outcome != check.Error {
			last = m
		}
		switch {
		case t.failed > spec.FailureLimit:
			return finish(res, check.Failed, m, t)
		case t.inconclusive > spec.InconclusiveLimit:
			return finish(res, check.Inconclusive, m, t)
		case t.consecutiveErrors > errLimit:
			return finish(res, check.Error, m, t)
		case t.taken() >= count:
			return finish(res, check.Successful, last, t)
		}
		select {
		case <-ctx.Done():
			m := check.Measurement{Message: fmt.Sprintf("stopped after %d of %d measurements: %v", t.taken(), count, context.Cause(ctx))}
			return finish(res, check.Error, m, t)
		case <-clock.After(interval):
		}
	}
}

func finish(res Result, o check.Outcome, decided check.Measurement, t tally) Result {
	res.Outcome = o
	res.Value, res.Bound = decided.Value, decided.Bound
	res.Message = fmt.Sprintf("%s (%s)", decided.Message, t)
	return res
}

// measure takes one measurement, turning errors (and panics: a checker bug
// must not take the bot down) into Error measurements.
func measure(ctx context.Context, checker check.Checker, req check.Request) (m check.Measurement) {
	defer func() {
		if p := recover(); p != nil {
			m = check.Measurement{Outcome: check.Error, Message: fmt.Sprintf("%s: panic: %v", checker.Name(), p)}
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, MeasureTimeout)
	defer cancel()
	m, err := checker.Measure(ctx, req)
	switch {
	case errors.Is(err, check.ErrNoValuesFound):
		return check.Measurement{Outcome: check.Inconclusive, Message: err.Error()}
	case err != nil:
		return check.Measurement{Outcome: check.Error, Message: err.Error()}
	case m.Outcome == "":
		return check.Measurement{Outcome: check.Error, Message: checker.Name() + ": measurement has no outcome"}
	}
	return m
}

// Job is one check to run.
type Job struct {
	Checker check.Checker
	Spec    runbook.Check
	Request check.Request
	// Measured, when not nil, hears each measurement as it lands.
	Measured func(check.Measurement)
}

// Settle waits out a validation's initial delay: the service settles and
// nothing is measured. It returns ctx's cause when ctx ends first.
func Settle(ctx context.Context, clock Clock, delay time.Duration) error {
	if delay <= 0 {
		return nil
	}
	select {
	case <-ctx.Done():
		return fmt.Errorf("settling for %s: %w", delay, context.Cause(ctx))
	case <-clock.After(delay):
		return nil
	}
}

// RunAll runs the jobs concurrently and returns their results in job order.
func RunAll(ctx context.Context, clock Clock, jobs []Job) []Result {
	results := make([]Result, len(jobs))
	var wg sync.WaitGroup
	for i, j := range jobs {
		if j.Checker == nil {
			results[i] = Result{Outcome: check.Error, Message: fmt.Sprintf("check %q (uses %q): no checker", j.Spec.Name, j.Spec.Uses)}
			continue
		}
		wg.Go(func() { results[i] = Run(ctx, clock, j.Checker, j.Spec, j.Request, j.Measured) })
	}
	wg.Wait()
	return results
}
