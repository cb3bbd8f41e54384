// Package alerts turns inbound alert webhooks into incident.Alert values.
//
// Intake is split in two so nothing accepted is ever lost: the HTTP handlers
// (alerts/pagerduty, alerts/alertmanager) only authenticate, decode enough to
// deduplicate, and persist the raw payload in the store's inbox before
// answering 202. The Worker then drains the inbox, turns each stored event
// into alerts through the Processor registered for its source, hands them to
// the Sink, and acknowledges the event only after the Sink accepted them.
package alerts

import (
	"context"
	"time"

	"github.com/backout/backout/internal/incident"
	"github.com/backout/backout/internal/store"
)

// Sources of events and alerts.
const (
	SourcePagerDuty    = "pagerduty"
	SourceAlertmanager = "alertmanager"
	SourceWatcher      = "watcher"
)

// DedupTTL is how long a dedup key keeps repeats out. PagerDuty retries a
// failed delivery for hours, Alertmanager repeats a group every
// repeat_interval (4h by default): a day covers both.
const DedupTTL = 24 * time.Hour

// EnqueueTimeout bounds the durable enqueue of one delivery. A store that
// hangs (Redis frozen, a disk stalled) must not hold the sender: past this
// the handler answers 503 with Retry-After, PagerDuty and Alertmanager send
// the delivery again, and the dedup keys make the retry a no-op when the
// timed-out write did land after all. Whole intake, guard check included,
// stays under the senders' patience and under the 2 s the issue promises.
const EnqueueTimeout = 1500 * time.Millisecond

// RetryAfterSeconds is what a 503 from intake asks the sender to wait.
const RetryAfterSeconds = "5"

// MaxBody caps webhook bodies; a PagerDuty v3 event is a few KiB and an
// Alertmanager group rarely more than a few hundred.
const MaxBody = 1 << 20

// Sink receives normalized alerts; the incident service implements it.
type Sink interface {
	OnAlert(ctx context.Context, a incident.Alert) error
}

// SinkFunc adapts a function to Sink.
type SinkFunc func(ctx context.Context, a incident.Alert) error

// OnAlert calls f.
func (f SinkFunc) OnAlert(ctx context.Context, a incident.Alert) error { return f(ctx, a) }

// Processor turns one stored event of its source into alerts. It returns an
// error only when the payload can never be processed (it is then dropped and
// counted); events it does not care about yield no alerts and no error.
type Processor interface {
	Process(ctx context.Context, ev store.Event) ([]incident.Alert, error)
}

// Enqueuer is the part of store.Inbox the HTTP handlers need.
type Enqueuer interface {
	EnqueueEvent(ctx context.Context, ev store.Event, dedupKeys []string, ttl time.Duration) (bool, error)
}

// Inbox is the part of the store the Worker drains.
type Inbox interface {
	PendingEvents(ctx context.Context, limit int) ([]store.Event, error)
	AckEvent(ctx context.Context, id string) error
}

// Claimer grants once-only work across replicas.
type Claimer interface {
	Claim(ctx context.Context, key string, ttl time.Duration) (bool, error)
}

// Notifier is told an event was enqueued, so the worker starts at once
// instead of at its next poll. Worker implements it.
type Notifier interface {
	Notify()
}

type nopNotifier struct{}

func (nopNotifier) Notify() {}

// NopNotifier is used when a handler is not given a Notifier.
var NopNotifier Notifier = nopNotifier{}
