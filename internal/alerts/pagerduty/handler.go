package pagerduty

import (
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/backout/backout/internal/alerts"
	"github.com/backout/backout/internal/store"
)

// HandlerConfig configures the webhook endpoint. Inbox is required.
type HandlerConfig struct {
	Inbox alerts.Enqueuer
	// Secrets are the webhook subscriptions' signing secrets; a delivery
	// signed with any of them is accepted (see SplitSecrets). With none,
	// every request is refused.
	Secrets  []string
	Notifier alerts.Notifier // woken after each stored event (default none)
	Metrics  alerts.Metrics  // default NopMetrics
	Logger   *slog.Logger    // default slog.Default()
	Now      func() time.Time
}

// Handler serves POST /webhooks/pagerduty: verify, decode, deduplicate,
// persist, 202. It answers 503 when the store fails so PagerDuty retries
// rather than the event being lost.
type Handler struct {
	cfg          HandlerConfig
	macs         []*macPool // one per secret
	warnNoSecret sync.Once
}

// NewHandler fills in defaults.
func NewHandler(cfg HandlerConfig) *Handler {
	if cfg.Notifier == nil {
		cfg.Notifier = alerts.NopNotifier
	}
	if cfg.Metrics == nil {
		cfg.Metrics = alerts.NopMetrics{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	h := &Handler{cfg: cfg}
	for _, s := range cfg.Secrets {
		h.macs = append(h.macs, newMacPool(s))
	}
	return h
}

// DedupKeys are the inbox keys of one event: its webhook id (PagerDuty
// redelivers the same id when we did not answer 2xx) and, for a trigger,
// the incident (two subscriptions deliver the same trigger with different
// ids, and one incident must propose one rollback).
func DedupKeys(ev *Event) []string {
	keys := []string{"pd-webhook/" + ev.ID}
	if ev.EventType == EventTriggered && ev.Data.ID != "" {
		keys = append(keys, "pd-incident/"+ev.Data.ID+"/triggered")
	}
	return keys
}

func (h *Handler) reject(w http.ResponseWriter, status int, reason, msg string) {
	h.cfg.Metrics.Rejected(alerts.SourcePagerDuty, reason)
	alerts.Reply(w, status, msg)
}

// ServeHTTP handles one delivery.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.reject(w, http.StatusMethodNotAllowed, alerts.ReasonMethod, "use POST")
		return
	}
	if len(h.cfg.Secrets) == 0 {
		h.warnNoSecret.Do(func() {
			h.cfg.Logger.Error("PagerDuty webhook received but PAGERDUTY_WEBHOOK_SECRET is not set; refusing every delivery")
		})
		h.reject(w, http.StatusUnauthorized, alerts.ReasonUnauthorized, "webhook signing secret not configured")
		return
	}
	body, status, err := alerts.ReadBody(w, r, alerts.MaxBody)
	if err != nil {
		reason := alerts.ReasonMalformed
		if status == http.StatusRequestEntityTooLarge {
			reason = alerts.ReasonTooLarge
		}
		h.reject(w, status, reason, "cannot read body: "+err.Error())
		return
	}
	sig := r.Header.Get(SignatureHeader)
	if sig == "" || !verify(body, sig, h.macs) {
		h.reject(w, http.StatusUnauthorized, alerts.ReasonUnauthorized, "missing or invalid "+SignatureHeader)
		return
	}
	env, err := Decode(body)
	if err != nil {
		h.reject(w, http.StatusBadRequest, alerts.ReasonMalformed, err.Error())
		return
	}
	ev := store.Event{ID: env.Event.ID, Source: alerts.SourcePagerDuty, Type: env.Event.EventType,
		Payload: body, ReceivedAt: h.cfg.Now().UTC(), Parsed: env}
	fresh, err := alerts.Enqueue(r.Context(), h.cfg.Inbox, ev, DedupKeys(&env.Event))
	if err != nil {
		h.cfg.Metrics.Failed(alerts.SourcePagerDuty, alerts.StageStore)
		h.cfg.Logger.Warn("PagerDuty webhook: cannot store event; answering 503 so PagerDuty retries",
			"event", ev.ID, "type", ev.Type, "err", err)
		h.cfg.Metrics.Rejected(alerts.SourcePagerDuty, alerts.ReasonUnavailable)
		alerts.ReplyRetry(w, "state store unavailable, retry later")
		return
	}
	if !fresh {
		h.cfg.Metrics.Duplicate(alerts.SourcePagerDuty)
		alerts.Reply(w, http.StatusAccepted, "duplicate")
		return
	}
	h.cfg.Metrics.Received(alerts.SourcePagerDuty)
	h.cfg.Notifier.Notify()
	alerts.Reply(w, http.StatusAccepted, "accepted")
}
