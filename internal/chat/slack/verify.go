package slack

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// Slack's request signing (https://docs.slack.dev/authentication/verifying-requests-from-slack).
const (
	headerSignature = "X-Slack-Signature"
	headerTimestamp = "X-Slack-Request-Timestamp"
	// signatureWindow bounds replays: older (or newer, for a skewed clock)
	// requests are refused outright; within it, replays are caught by claims.
	signatureWindow = 5 * time.Minute
)

var (
	errNoSecret     = errors.New("no signing secret configured")
	errMissingSig   = errors.New("missing signature headers")
	errBadTimestamp = errors.New("malformed request timestamp")
	errStale        = errors.New("request timestamp outside the 5 minute window")
	errBadSignature = errors.New("signature mismatch")
	errTooLarge     = errors.New("request body too large")
)

// signature computes Slack's v0 signature of a raw body.
func signature(secret, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(mac, "v0:%s:", timestamp)
	mac.Write(body)
	return "v0=" + hex.EncodeToString(mac.Sum(nil))
}

// verify checks the signature headers over the raw body. It must run before
// anything reads the body's contents, so that an unsigned request has no
// effect at all.
func verify(secret string, h http.Header, body []byte, now time.Time) error {
	if secret == "" {
		return errNoSecret
	}
	ts, sig := h.Get(headerTimestamp), h.Get(headerSignature)
	if ts == "" || sig == "" {
		return errMissingSig
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return errBadTimestamp
	}
	if d := now.Sub(time.Unix(sec, 0)); d > signatureWindow || d < -signatureWindow {
		return errStale
	}
	if !hmac.Equal([]byte(sig), []byte(signature(secret, ts, body))) {
		return errBadSignature
	}
	return nil
}

// readBody reads at most limit bytes; more is errTooLarge.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if r.ContentLength > limit {
		return nil, errTooLarge
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return nil, errTooLarge
	}
	if err != nil {
		return nil, fmt.Errorf("reading body: %w", err)
	}
	return body, nil
}
