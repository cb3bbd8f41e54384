package incident

import (
	"context"
	"time"

	"github.com/backout/backout/internal/rollback"
)

// Alert is a normalized signal that something is wrong with a service, from
// PagerDuty, Alertmanager or a post-deploy watcher. Adapters map their
// payloads to catalog services before calling Service.OnAlert.
type Alert struct {
	Source     string    // pagerduty | alertmanager | watcher
	Kind       string    // see the Alert* kinds
	Service    string    // catalog service name
	IncidentID string    // PagerDuty incident ID, Alertmanager group key, watcher name
	URL        string    // link for people
	Summary    string    // one line
	Urgency    string    // high | low (PagerDuty); critical | warning (Alertmanager)
	Priority   string    // PagerDuty priority summary, e.g. P1
	At         time.Time // when the source says it happened
}

// Alert kinds.
const (
	AlertTriggered       = "triggered"
	AlertEscalated       = "escalated"
	AlertPriorityUpdated = "priority_updated"
	AlertAcknowledged    = "acknowledged"
	AlertResolved        = "resolved"
)

// Person is someone on call.
type Person struct {
	Name    string
	Email   string
	SlackID string // when known
}

// Pager is what the lifecycle needs from PagerDuty. Every method is best
// effort from the lifecycle's point of view: a failure is logged and counted,
// never blocks a rollback. NoopPager is used when PagerDuty is not configured.
type Pager interface {
	// Note adds a note to an incident.
	Note(ctx context.Context, incidentID, text string) error
	// Acknowledge and Resolve change the incident's status.
	Acknowledge(ctx context.Context, incidentID string) error
	Resolve(ctx context.Context, incidentID string) error
	// OnCall lists who is on call for a PagerDuty service (through its escalation policy).
	OnCall(ctx context.Context, pagerdutyServiceID string) ([]Person, error)
	// Page raises an Events API v2 alert; dedupKey makes repeats collapse.
	Page(ctx context.Context, dedupKey, summary, severity string, details map[string]string) error
}

// NoopPager does nothing; it stands in when PagerDuty is not configured, so
// callers never check for nil.
type NoopPager struct{}

func (NoopPager) Note(context.Context, string, string) error                            { return nil }
func (NoopPager) Acknowledge(context.Context, string) error                             { return nil }
func (NoopPager) Resolve(context.Context, string) error                                 { return nil }
func (NoopPager) OnCall(context.Context, string) ([]Person, error)                      { return nil, nil }
func (NoopPager) Page(context.Context, string, string, string, map[string]string) error { return nil }

// Notifier is how the lifecycle tells people what happened. It speaks in
// notices (internal/rollback), never in messages: internal/present words
// them for chat. Telling is best effort; the record is stored first.
type Notifier interface {
	// Announce shows a new rollback and says where its thread lives.
	Announce(ctx context.Context, v rollback.View, stakeholders []string) (channel, ts string, err error)
	// Show redraws a rollback's main message from its current state.
	Show(ctx context.Context, v rollback.View) error
	// Tell posts one notice.
	Tell(ctx context.Context, n rollback.Notice) error
}

// NoopNotifier tells nobody; it stands in when nothing is configured.
type NoopNotifier struct{}

func (NoopNotifier) Announce(_ context.Context, v rollback.View, _ []string) (string, string, error) {
	return v.Rollback.Channel, "", nil
}
func (NoopNotifier) Show(context.Context, rollback.View) error   { return nil }
func (NoopNotifier) Tell(context.Context, rollback.Notice) error { return nil }

// Directory resolves chat user groups to their members (chat/slack's
// Directory implements it; console and tests use fakes).
type Directory interface {
	GroupMembers(ctx context.Context, usergroupID string) ([]string, error)
}
