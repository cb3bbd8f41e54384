// Package server is Backout's HTTP surface: Slack and webhook endpoints
// (mounted from their adapters), the deploy and registry API, health, and
// metrics, behind request ids, structured logs, body limits and timeouts.
package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/backout/backout/internal/metrics"
)

// Routes are the handlers the server mounts; nil ones answer 404 with a hint.
type Routes struct {
	SlackCommands     http.Handler
	SlackInteractions http.Handler
	SlackEvents       http.Handler
	PagerDuty         http.Handler
	Alertmanager      http.Handler
	API               *API
	// Ready reports whether the process can serve (store reachable, Slack auth ok).
	Ready func(ctx context.Context) error
}

// MaxBody is the default request body limit.
const MaxBody = 1 << 20

// New builds the HTTP handler.
func New(r Routes, m *metrics.Metrics, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mount := func(pattern, route string, h http.Handler, hint string) {
		if h == nil {
			h = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { http.Error(w, hint, http.StatusNotFound) })
		}
		mux.Handle(pattern, instrument(route, h, m, log))
	}
	mount("POST /slack/commands", "slack_commands", r.SlackCommands, "Slack is not configured: set SLACK_SIGNING_SECRET and SLACK_BOT_TOKEN")
	mount("POST /slack/interactions", "slack_interactions", r.SlackInteractions, "Slack is not configured: set SLACK_SIGNING_SECRET and SLACK_BOT_TOKEN")
	mount("POST /slack/events", "slack_events", r.SlackEvents, "Slack is not configured: set SLACK_SIGNING_SECRET and SLACK_BOT_TOKEN")
	mount("POST /webhooks/pagerduty", "webhook_pagerduty", r.PagerDuty, "PagerDuty webhooks are not configured: set PAGERDUTY_WEBHOOK_SECRET")
	mount("POST /webhooks/alertmanager", "webhook_alertmanager", r.Alertmanager, "Alertmanager webhooks are not configured")
	if r.API != nil {
		r.API.Mount(func(pattern, route string, h http.Handler) { mount(pattern, route, h, "") })
	}
	mount("GET /healthz", "healthz", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("ok\n"))
	}), "")
	mount("GET /readyz", "readyz", http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		ctx, cancel := context.WithTimeout(req.Context(), 2*time.Second)
		defer cancel()
		if r.Ready != nil {
			if err := r.Ready(ctx); err != nil {
				http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		_, _ = w.Write([]byte("ready\n"))
	}), "")
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}))
	return mux
}

// HTTPServer wraps h with conservative timeouts.
func HTTPServer(addr string, h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

type requestIDKey struct{}

// RequestID returns the request id of a request context.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// instrument adds a request id, a body limit, metrics and an access log line.
func instrument(route string, h http.Handler, m *metrics.Metrics, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-Id")
		if id == "" || len(id) > 64 {
			id = newRequestID()
		}
		w.Header().Set("X-Request-Id", id)
		r = r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id))
		if r.ContentLength > MaxBody {
			http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
			m.HTTPRequests.WithLabelValues(route, "413").Inc()
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, MaxBody)
		sw := &statusWriter{ResponseWriter: w}
		h.ServeHTTP(sw, r)
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		d := time.Since(start)
		m.HTTPRequests.WithLabelValues(route, strconv.Itoa(sw.status)).Inc()
		m.HTTPDuration.WithLabelValues(route).Observe(d.Seconds())
		if level := accessLevel(route, sw.status); route != "healthz" && route != "readyz" && log.Enabled(r.Context(), level) {
			log.LogAttrs(r.Context(), level, "http request", slog.String("request_id", id), slog.String("route", route),
				slog.Int("status", sw.status), slog.Duration("duration", d), slog.String("remote", remoteIP(r)))
		}
	})
}

// accessLevel is the level of a request's access line. An accepted webhook
// delivery is logged at debug: alert sources deliver thousands a second in
// a storm, each is counted in backout_http_requests_total, and the line cost
// 4 % of intake's CPU. A refused one (401, 400, 413, 503) stays at info,
// as does every Slack and API request: those are people acting.
func accessLevel(route string, status int) slog.Level {
	if strings.HasPrefix(route, "webhook_") && status >= 200 && status < 300 {
		return slog.LevelDebug
	}
	return slog.LevelInfo
}

func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// IsBodyTooLarge reports whether err came from the body limit.
func IsBodyTooLarge(err error) bool {
	var mbe *http.MaxBytesError
	return errors.As(err, &mbe)
}
