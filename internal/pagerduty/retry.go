package pagerduty

import (
	"context"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// RetryPolicy bounds retries of rate-limited (429) and failed (5xx) calls.
type RetryPolicy struct {
	// Attempts is the most tries of one call, the first included (default 4).
	Attempts int
	// Base is the first backoff; each retry doubles it (default 500ms).
	Base time.Duration
	// Max caps any one wait. A Retry-After longer than Max is not waited
	// for: the 429 is returned at once (default 30s).
	Max time.Duration
	// Sleep waits d or until ctx ends (default: a timer); tests replace it.
	Sleep func(ctx context.Context, d time.Duration) error
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.Attempts <= 0 {
		p.Attempts = 4
	}
	if p.Base <= 0 {
		p.Base = 500 * time.Millisecond
	}
	if p.Max <= 0 {
		p.Max = 30 * time.Second
	}
	if p.Sleep == nil {
		p.Sleep = sleep
	}
	return p
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// backoff is exponential with jitter in [d/2, d], so replicas that failed
// together do not retry together.
func (p RetryPolicy) backoff(retry int) time.Duration {
	d := p.Base << min(retry, 20)
	if d <= 0 || d > p.Max {
		d = p.Max
	}
	return d/2 + rand.N(d/2+1)
}

// transport adds the From header to REST writes and retries 429 and 5xx.
type transport struct {
	base    http.RoundTripper
	policy  RetryPolicy
	apiURL  string // requests under it are REST calls and get From
	from    string
	onRetry func(status int) // counts retries; may be nil
}

func retryable(status int) bool {
	return status == http.StatusTooManyRequests || status >= 500
}

// RoundTrip implements http.RoundTripper.
func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodGet && req.Method != http.MethodHead && req.Header.Get("From") == "" &&
		strings.HasPrefix(req.URL.String(), t.apiURL) {
		// PagerDuty refuses REST writes without a From naming a user.
		req = req.Clone(req.Context())
		req.Header.Set("From", t.from)
	}
	for attempt := 1; ; attempt++ {
		if attempt > 1 && req.Body != nil {
			if req.GetBody == nil {
				return nil, errNoRewind
			}
			body, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			req = req.Clone(req.Context())
			req.Body = body
		}
		resp, err := t.base.RoundTrip(req)
		if err != nil || !retryable(resp.StatusCode) || attempt >= t.policy.Attempts {
			return resp, err
		}
		wait := t.policy.backoff(attempt - 1)
		if ra, ok := retryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
			if ra > t.policy.Max {
				return resp, nil // too long to hold a caller: let it see the 429
			}
			wait = ra
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		_ = resp.Body.Close()
		if t.onRetry != nil {
			t.onRetry(resp.StatusCode)
		}
		if err := t.policy.Sleep(req.Context(), wait); err != nil {
			return nil, err
		}
	}
}

// retryAfter parses delay-seconds or an HTTP date.
func retryAfter(v string, now time.Time) (time.Duration, bool) {
	if v = strings.TrimSpace(v); v == "" {
		return 0, false
	}
	if s, err := strconv.Atoi(v); err == nil {
		if s < 0 {
			return 0, false
		}
		if s > 1<<30 { // keeps the multiplication below from overflowing
			return time.Duration(math.MaxInt64), true
		}
		return time.Duration(s) * time.Second, true
	}
	if at, err := http.ParseTime(v); err == nil {
		return max(at.Sub(now), 0), true
	}
	return 0, false
}

var errNoRewind = errors.New("pagerduty: cannot retry a request whose body cannot be re-read")
