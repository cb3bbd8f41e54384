package alertmanager

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/backout/backout/internal/alerts"
	"github.com/backout/backout/internal/config"
	"github.com/backout/backout/internal/incident"
	"github.com/backout/backout/internal/store"
)

// labelMatch is one alert_labels entry: an exact value, or (written with a
// leading ~) a regular expression that must match the whole value.
type labelMatch struct {
	name, value string
	re          *regexp.Regexp
}

type serviceMatcher struct {
	service string
	labels  []labelMatch
}

func (s serviceMatcher) matches(labels map[string]string) bool {
	for _, m := range s.labels {
		v, ok := labels[m.name]
		if m.re != nil {
			if !m.re.MatchString(v) {
				return false
			}
		} else if !ok || v != m.value {
			return false
		}
	}
	return true
}

// CheckAlertLabels reports the first alert_labels regular expression that
// does not compile, for config validation.
func CheckAlertLabels(services []config.Service) error {
	_, err := compile(services)
	return err
}

// compile builds the matchers of every service that has alert_labels; a
// service without them never matches (it would match everything).
func compile(services []config.Service) ([]serviceMatcher, error) {
	var out []serviceMatcher
	for _, s := range services {
		if len(s.AlertLabels) == 0 {
			continue
		}
		sm := serviceMatcher{service: s.Name}
		for name, value := range s.AlertLabels {
			m := labelMatch{name: name, value: value}
			if expr, ok := strings.CutPrefix(value, "~"); ok {
				re, err := regexp.Compile("^(?:" + expr + ")$")
				if err != nil {
					return nil, fmt.Errorf("services.%s.alert_labels.%s: bad regular expression: %w", s.Name, name, err)
				}
				m.re = re
			}
			sm.labels = append(sm.labels, m)
		}
		sort.Slice(sm.labels, func(i, j int) bool { return sm.labels[i].name < sm.labels[j].name })
		out = append(out, sm)
	}
	return out, nil
}

// Processor turns stored notifications into alerts for the catalog
// services whose alert_labels match.
type Processor struct {
	matchers []serviceMatcher
	metrics  alerts.Metrics
	log      *slog.Logger
	// unmatchedLogged: one log line per alertname no service matches.
	unmatchedLogged alerts.FirstSeen
}

// NewProcessor compiles the catalog's alert_labels; metrics and log may be nil.
func NewProcessor(services []config.Service, metrics alerts.Metrics, log *slog.Logger) (*Processor, error) {
	ms, err := compile(services)
	if err != nil {
		return nil, err
	}
	if metrics == nil {
		metrics = alerts.NopMetrics{}
	}
	if log == nil {
		log = slog.Default()
	}
	return &Processor{matchers: ms, metrics: metrics, log: log}, nil
}

// group is what one (service, status) pair collected from a notification.
type group struct {
	service, status string
	alerts          []Alert
}

// Process yields one alert per matched service and status: triggered for
// firing alerts, resolved for resolved ones. A service that still has a
// firing alert in the group gets no resolved alert: part of the group
// recovering does not end the incident.
func (p *Processor) Process(_ context.Context, ev store.Event) ([]incident.Alert, error) {
	msg, ok := ev.Parsed.(*Message) // intake's decode, when it came with the event
	if !ok {
		var err error
		if msg, err = Decode(ev.Payload); err != nil {
			return nil, fmt.Errorf("stored Alertmanager notification %s: %w", ev.ID, err)
		}
	}
	groups := map[[2]string]*group{}
	var order [][2]string
	unmatched := 0
	for _, a := range msg.Alerts {
		hit := false
		for _, m := range p.matchers {
			if !m.matches(a.Labels) {
				continue
			}
			hit = true
			k := [2]string{m.service, a.Status}
			if groups[k] == nil {
				groups[k] = &group{service: m.service, status: a.Status}
				order = append(order, k)
			}
			groups[k].alerts = append(groups[k].alerts, a)
		}
		if !hit {
			unmatched++
		}
	}
	if unmatched > 0 {
		p.metrics.Ignored(alerts.SourceAlertmanager, alerts.ReasonUnknownService)
		if p.unmatchedLogged.First(msg.CommonLabels["alertname"]) {
			p.log.Info("Alertmanager alerts match no service's alert_labels; dropping them (logged once per alertname)",
				"group", msg.GroupKey, "alerts", unmatched, "labels", msg.CommonLabels)
		}
	}
	var out []incident.Alert
	for _, k := range order {
		g := groups[k]
		if g.status == StatusResolved && groups[[2]string{g.service, StatusFiring}] != nil {
			continue
		}
		out = append(out, toAlert(msg, g, ev.ReceivedAt))
	}
	return out, nil
}

func toAlert(msg *Message, g *group, received time.Time) incident.Alert {
	first := g.alerts[0]
	a := incident.Alert{
		Source:     alerts.SourceAlertmanager,
		Kind:       incident.AlertTriggered,
		Service:    g.service,
		IncidentID: msg.GroupKey,
		URL:        first.GeneratorURL,
		Summary:    summary(msg, g.alerts),
		Urgency:    first.Labels["severity"],
	}
	if a.URL == "" {
		a.URL = msg.ExternalURL
	}
	if g.status == StatusResolved {
		a.Kind = incident.AlertResolved
	}
	for _, x := range g.alerts {
		// Firing: when the first alert started. Resolved: when the last ended.
		if g.status == StatusFiring && !x.StartsAt.IsZero() && (a.At.IsZero() || x.StartsAt.Before(a.At)) {
			a.At = x.StartsAt
		}
		if g.status == StatusResolved && x.EndsAt.After(a.At) {
			a.At = x.EndsAt
		}
	}
	if a.At.IsZero() {
		a.At = received
	}
	return a
}

// summary is the first alert's summary annotation (then the group's, then
// a description), else the alert name; it notes how many alerts there are.
func summary(msg *Message, as []Alert) string {
	first := as[0]
	s := ""
	for _, v := range []string{first.Annotations["summary"], msg.CommonAnnotations["summary"],
		first.Annotations["description"], first.Labels["alertname"]} {
		if v != "" {
			s = v
			break
		}
	}
	if s == "" {
		s = "alert " + msg.GroupKey
	}
	if len(as) > 1 {
		s = fmt.Sprintf("%s (+%d more)", s, len(as)-1)
	}
	return s
}
