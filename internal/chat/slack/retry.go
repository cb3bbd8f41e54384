package slack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"time"

	slackgo "github.com/slack-go/slack"
)

// RetryOptions bound how hard an outbound call tries before giving up.
// Zero values take the defaults noted on each field.
type RetryOptions struct {
	// MaxAttempts bounds attempts on 5xx and network errors (default 4).
	MaxAttempts int
	// MaxRateLimitWaits bounds how many 429s one call waits out (default 10).
	MaxRateLimitWaits int
	// BaseBackoff is the first wait after a 5xx or network error; it doubles
	// each time up to MaxBackoff (defaults 250 ms and 8 s).
	BaseBackoff time.Duration
	MaxBackoff  time.Duration
	// MinRetryAfter is the least we wait after a 429, even when Slack says
	// Retry-After: 0, so a misbehaving peer cannot make us spin (default 1 s).
	MinRetryAfter time.Duration
}

func (o RetryOptions) withDefaults() RetryOptions {
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 4
	}
	if o.MaxRateLimitWaits <= 0 {
		o.MaxRateLimitWaits = 10
	}
	if o.BaseBackoff <= 0 {
		o.BaseBackoff = 250 * time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 8 * time.Second
	}
	if o.MinRetryAfter <= 0 {
		o.MinRetryAfter = time.Second
	}
	return o
}

// retrier runs one Web API call until it succeeds, fails for good, or runs
// out of attempts. Slack's own retry wrapper is not used because it cannot
// count metrics per method and does not retry multipart uploads.
type retrier struct {
	opts    RetryOptions
	metrics Metrics
}

func newRetrier(opts RetryOptions, m Metrics) *retrier {
	return &retrier{opts: opts.withDefaults(), metrics: metricsOrNop(m)}
}

func (r *retrier) do(ctx context.Context, method string, call func(context.Context) error) error {
	backoff := r.opts.BaseBackoff
	failures, waits := 0, 0
	for {
		err := call(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("slack %s: %w (last error: %w)", method, ctx.Err(), err)
		}
		var wait time.Duration
		if rl, ok := errors.AsType[*slackgo.RateLimitedError](err); ok {
			r.metrics.RateLimited(method)
			waits++
			if waits > r.opts.MaxRateLimitWaits {
				return fmt.Errorf("slack %s: still rate limited after %d waits: %w", method, waits-1, err)
			}
			wait = max(rl.RetryAfter, r.opts.MinRetryAfter)
		} else {
			r.metrics.APIError(method)
			failures++
			if !retryable(err) {
				return fmt.Errorf("slack %s: %w", method, err)
			}
			if failures >= r.opts.MaxAttempts {
				return fmt.Errorf("slack %s: giving up after %d attempts: %w", method, failures, err)
			}
			// Jitter spreads replicas that failed together.
			wait = backoff + rand.N(backoff/2+1)
			backoff = min(backoff*2, r.opts.MaxBackoff)
		}
		if err := sleep(ctx, wait); err != nil {
			return fmt.Errorf("slack %s: %w", method, err)
		}
	}
}

// retryableSlackErrors are "ok":false answers Slack documents as transient.
var retryableSlackErrors = map[string]bool{
	"internal_error":      true,
	"fatal_error":         true,
	"service_unavailable": true,
	"request_timeout":     true,
}

func retryable(err error) bool {
	if sc, ok := errors.AsType[slackgo.StatusCodeError](err); ok {
		return sc.Code >= 500
	}
	if se, ok := errors.AsType[slackgo.SlackErrorResponse](err); ok {
		return retryableSlackErrors[se.Err]
	}
	if _, ok := errors.AsType[net.Error](err); ok {
		return true
	}
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
