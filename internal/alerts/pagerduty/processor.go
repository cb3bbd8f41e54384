package pagerduty

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/backout/backout/internal/alerts"
	"github.com/backout/backout/internal/config"
	"github.com/backout/backout/internal/incident"
	"github.com/backout/backout/internal/store"
)

// kinds maps the event types we act on to alert kinds.
var kinds = map[string]string{
	EventTriggered:       incident.AlertTriggered,
	EventEscalated:       incident.AlertEscalated,
	EventPriorityUpdated: incident.AlertPriorityUpdated,
	EventAcknowledged:    incident.AlertAcknowledged,
	EventResolved:        incident.AlertResolved,
}

// Processor turns stored PagerDuty events into alerts for the catalog
// services that list the incident's PagerDuty service in pagerduty_services.
type Processor struct {
	byPDService map[string][]string // PagerDuty service ID -> catalog services
	metrics     alerts.Metrics
	log         *slog.Logger

	// unknownLogged: one log line per unmapped PagerDuty service.
	unknownLogged alerts.FirstSeen
}

// NewProcessor indexes the catalog; metrics and log may be nil.
func NewProcessor(services []config.Service, metrics alerts.Metrics, log *slog.Logger) *Processor {
	if metrics == nil {
		metrics = alerts.NopMetrics{}
	}
	if log == nil {
		log = slog.Default()
	}
	by := map[string][]string{}
	for _, s := range services {
		for _, id := range s.PagerDutyServices {
			by[id] = append(by[id], s.Name)
		}
	}
	return &Processor{byPDService: by, metrics: metrics, log: log}
}

// Process decodes ev (unless intake's decode came with it). A PagerDuty
// service mapped to several catalog services yields one alert for each:
// each of them may be the culprit.
func (p *Processor) Process(_ context.Context, ev store.Event) ([]incident.Alert, error) {
	env, ok := ev.Parsed.(*Envelope)
	if !ok {
		var err error
		if env, err = Decode(ev.Payload); err != nil {
			return nil, fmt.Errorf("stored PagerDuty event %s: %w", ev.ID, err)
		}
	}
	e := env.Event
	kind, ok := kinds[e.EventType]
	if !ok {
		p.metrics.Ignored(alerts.SourcePagerDuty, alerts.ReasonEventType)
		return nil, nil
	}
	services := p.byPDService[e.Data.Service.ID]
	if len(services) == 0 {
		p.metrics.Ignored(alerts.SourcePagerDuty, alerts.ReasonUnknownService)
		if !p.unknownLogged.First(e.Data.Service.ID) {
			return nil, nil
		}
		p.log.Info("PagerDuty event for a service not in the catalog; dropping it (add it to a service's pagerduty_services)",
			"event", e.ID, "type", e.EventType, "incident", e.Data.ID,
			"pagerduty_service", e.Data.Service.ID, "pagerduty_service_name", e.Data.Service.Summary)
		return nil, nil
	}
	at := e.OccurredAt
	if at.IsZero() {
		at = ev.ReceivedAt
	}
	priority := ""
	if e.Data.Priority != nil {
		priority = e.Data.Priority.Summary
	}
	out := make([]incident.Alert, 0, len(services))
	for _, svc := range services {
		out = append(out, incident.Alert{
			Source:     alerts.SourcePagerDuty,
			Kind:       kind,
			Service:    svc,
			IncidentID: e.Data.ID,
			URL:        e.Data.HTMLURL,
			Summary:    e.Data.Title,
			Urgency:    e.Data.Urgency,
			Priority:   priority,
			At:         at,
		})
	}
	return out, nil
}
