package alertmanager

import (
	"crypto/sha256"
	"crypto/subtle"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/backout/backout/internal/alerts"
	"github.com/backout/backout/internal/store"
)

// HandlerConfig configures the webhook endpoint. Inbox is required.
type HandlerConfig struct {
	Inbox alerts.Enqueuer
	// BearerToken (ALERTMANAGER_TOKEN) and BasicAuth (ALERTMANAGER_BASIC_AUTH,
	// "user:password") are the accepted credentials; with neither set every
	// request is refused.
	BearerToken string
	BasicAuth   string
	Notifier    alerts.Notifier // woken after each stored event (default none)
	Metrics     alerts.Metrics  // default NopMetrics
	Logger      *slog.Logger    // default slog.Default()
	Now         func() time.Time
}

// Handler serves POST /webhooks/alertmanager. It answers 503 when the store
// fails: Alertmanager retries a failed notification.
type Handler struct {
	cfg          HandlerConfig
	token, basic [sha256.Size]byte
	warnNoAuth   sync.Once
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
	// Comparing digests keeps the comparison constant-time in the length of
	// the secret too.
	return &Handler{cfg: cfg, token: sha256.Sum256([]byte(cfg.BearerToken)), basic: sha256.Sum256([]byte(cfg.BasicAuth))}
}

func equal(want [sha256.Size]byte, got string) bool {
	sum := sha256.Sum256([]byte(got))
	return subtle.ConstantTimeCompare(want[:], sum[:]) == 1
}

func (h *Handler) authorized(r *http.Request) bool {
	if user, pass, ok := r.BasicAuth(); ok {
		return h.cfg.BasicAuth != "" && equal(h.basic, user+":"+pass)
	}
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	return ok && strings.EqualFold(scheme, "Bearer") && h.cfg.BearerToken != "" && equal(h.token, strings.TrimSpace(token))
}

func (h *Handler) reject(w http.ResponseWriter, status int, reason, msg string) {
	h.cfg.Metrics.Rejected(alerts.SourceAlertmanager, reason)
	alerts.Reply(w, status, msg)
}

// ServeHTTP handles one notification.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.reject(w, http.StatusMethodNotAllowed, alerts.ReasonMethod, "use POST")
		return
	}
	if h.cfg.BearerToken == "" && h.cfg.BasicAuth == "" {
		h.warnNoAuth.Do(func() {
			h.cfg.Logger.Error("Alertmanager webhook received but neither ALERTMANAGER_TOKEN nor ALERTMANAGER_BASIC_AUTH is set; refusing every notification")
		})
		h.reject(w, http.StatusUnauthorized, alerts.ReasonUnauthorized, "webhook credentials not configured")
		return
	}
	if !h.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="backout"`)
		h.reject(w, http.StatusUnauthorized, alerts.ReasonUnauthorized, "missing or invalid credentials")
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
	msg, err := Decode(body)
	if err != nil {
		h.reject(w, http.StatusBadRequest, alerts.ReasonMalformed, err.Error())
		return
	}
	key := DedupKey(msg)
	ev := store.Event{ID: "am-" + key[:32], Source: alerts.SourceAlertmanager, Type: msg.Status,
		Payload: body, ReceivedAt: h.cfg.Now().UTC(), Parsed: msg}
	fresh, err := alerts.Enqueue(r.Context(), h.cfg.Inbox, ev, []string{"am/" + key})
	if err != nil {
		h.cfg.Metrics.Failed(alerts.SourceAlertmanager, alerts.StageStore)
		h.cfg.Logger.Warn("Alertmanager webhook: cannot store notification; answering 503 so Alertmanager retries",
			"group", msg.GroupKey, "err", err)
		h.cfg.Metrics.Rejected(alerts.SourceAlertmanager, alerts.ReasonUnavailable)
		alerts.ReplyRetry(w, "state store unavailable, retry later")
		return
	}
	if !fresh {
		h.cfg.Metrics.Duplicate(alerts.SourceAlertmanager)
		alerts.Reply(w, http.StatusAccepted, "duplicate")
		return
	}
	h.cfg.Metrics.Received(alerts.SourceAlertmanager)
	h.cfg.Notifier.Notify()
	alerts.Reply(w, http.StatusAccepted, "accepted")
}
