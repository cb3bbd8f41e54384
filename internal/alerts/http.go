package alerts

import (
	"context"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/backout/backout/internal/store"
)

// ReadBody reads a webhook body of at most limit bytes. When it cannot, it
// returns the status to refuse the request with: 413 when the body is too
// large, 400 when it could not be read.
func ReadBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, int, error) {
	body, err := readAll(http.MaxBytesReader(w, r.Body, limit), r.ContentLength, limit)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, http.StatusRequestEntityTooLarge, err
		}
		return nil, http.StatusBadRequest, err
	}
	return body, http.StatusOK, nil
}

// readAll reads body into one buffer of the declared length, when there is
// one within limit (net/http holds the body to it), instead of growing one
// from 512 bytes as io.ReadAll does.
func readAll(body io.Reader, declared, limit int64) ([]byte, error) {
	if declared <= 0 || declared > limit {
		return io.ReadAll(body)
	}
	buf := make([]byte, declared)
	if _, err := io.ReadFull(body, buf); err != nil {
		return nil, err
	}
	return buf, nil
}

// Reply writes a short plain-text answer; webhook senders only log it.
func Reply(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, msg+"\n")
}

// Enqueue stores one delivery durably within EnqueueTimeout. It reports
// whether the event is new; an error means nothing may be acknowledged and
// the sender must retry (see ReplyRetry).
func Enqueue(ctx context.Context, inbox Enqueuer, ev store.Event, dedupKeys []string) (bool, error) {
	// bot serve's webhook routes already carry this deadline; a timer
	// per delivery would only cost.
	if d, ok := ctx.Deadline(); !ok || time.Until(d) > EnqueueTimeout {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, EnqueueTimeout)
		defer cancel()
	}
	return inbox.EnqueueEvent(ctx, ev, dedupKeys, DedupTTL)
}

// ReplyRetry answers 503 with Retry-After: the delivery was not stored, so
// the sender keeps it and tries again.
func ReplyRetry(w http.ResponseWriter, msg string) {
	w.Header().Set("Retry-After", RetryAfterSeconds)
	Reply(w, http.StatusServiceUnavailable, msg)
}
