package pagerduty_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/backout/backout/internal/alerts"
	"github.com/backout/backout/internal/alerts/alertstest"
	"github.com/backout/backout/internal/alerts/pagerduty"
	"github.com/backout/backout/internal/config"
	"github.com/backout/backout/internal/incident"
	"github.com/backout/backout/internal/store"
)

var catalog = []config.Service{
	{Name: "checkout", PagerDutyServices: []string{"PIJ90N7", "PX0X0X0"}},
	{Name: "payments", PagerDutyServices: []string{"PQ11111"}},
}

func storedEvent(t *testing.T, name string) store.Event {
	t.Helper()
	env, err := pagerduty.Decode(fixture(t, name))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return store.Event{ID: env.Event.ID, Source: alerts.SourcePagerDuty, Type: env.Event.EventType,
		Payload: fixture(t, name), ReceivedAt: time.Now()}
}

func TestProcessorFixtures(t *testing.T) {
	base := incident.Alert{Source: "pagerduty", Service: "checkout", IncidentID: "Q2KXO6NYO7PBDQ",
		URL:     "https://acme.pagerduty.com/incidents/Q2KXO6NYO7PBDQ",
		Summary: "checkout: 5xx ratio above 5% for 5 minutes", Urgency: "high", Priority: "P2"}
	with := func(kind, at, prio string) *incident.Alert {
		a := base
		a.Kind, a.Priority = kind, prio
		a.At, _ = time.Parse(time.RFC3339Nano, at)
		return &a
	}
	tests := []struct {
		file   string
		want   *incident.Alert
		metric string
	}{
		{"incident_triggered.json", with(incident.AlertTriggered, "2024-05-20T14:00:00.123Z", "P2"), ""},
		{"incident_escalated.json", with(incident.AlertEscalated, "2024-05-20T14:05:00.501Z", "P2"), ""},
		{"incident_priority_updated.json", with(incident.AlertPriorityUpdated, "2024-05-20T14:06:10Z", "P1"), ""},
		{"incident_acknowledged.json", with(incident.AlertAcknowledged, "2024-05-20T14:07:42.31Z", "P2"), ""},
		{"incident_resolved.json", with(incident.AlertResolved, "2024-05-20T14:31:05.007Z", "P2"), ""},
		{"incident_annotated.json", nil, "ignored/pagerduty/event_type"},
		{"pagey_ping.json", nil, "ignored/pagerduty/event_type"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			m := &alertstest.Metrics{}
			got, err := pagerduty.NewProcessor(catalog, m, nil).Process(context.Background(), storedEvent(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if tt.want == nil {
				if len(got) != 0 || m.Get(tt.metric) != 1 {
					t.Fatalf("got %+v and %s=%d, want nothing and the event counted", got, tt.metric, m.Get(tt.metric))
				}
				return
			}
			if len(got) != 1 || got[0] != *tt.want {
				t.Fatalf("got  %+v\nwant %+v", got, *tt.want)
			}
		})
	}
}

func TestProcessorServiceMapping(t *testing.T) {
	ev := storedEvent(t, "incident_triggered.json")
	swap := func(id string) store.Event {
		e := ev
		e.Payload = []byte(strings.ReplaceAll(string(ev.Payload), `"id": "PIJ90N7"`, `"id": "`+id+`"`))
		return e
	}
	shared := append([]config.Service{{Name: "cart", PagerDutyServices: []string{"PIJ90N7"}}}, catalog...)
	tests := []struct {
		name     string
		catalog  []config.Service
		ev       store.Event
		services string
		ignored  int
	}{
		{"first of two PagerDuty services", catalog, ev, "checkout", 0},
		{"second of two PagerDuty services", catalog, swap("PX0X0X0"), "checkout", 0},
		{"another catalog service", catalog, swap("PQ11111"), "payments", 0},
		{"unknown service dropped", catalog, swap("PUNKNOWN"), "", 1},
		{"shared PagerDuty service", shared, ev, "cart,checkout", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &alertstest.Metrics{}
			got, err := pagerduty.NewProcessor(tt.catalog, m, nil).Process(context.Background(), tt.ev)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, a := range got {
				names = append(names, a.Service)
			}
			if strings.Join(names, ",") != tt.services || m.Get("ignored/pagerduty/unknown_service") != tt.ignored {
				t.Fatalf("services %q ignored %d, want %q and %d", names, m.Get("ignored/pagerduty/unknown_service"), tt.services, tt.ignored)
			}
		})
	}
}

func TestProcessorPoison(t *testing.T) {
	_, err := pagerduty.NewProcessor(catalog, nil, nil).Process(context.Background(),
		store.Event{ID: "bad", Source: "pagerduty", Payload: []byte("{")})
	if err == nil || !strings.Contains(err.Error(), "bad") {
		t.Fatalf("err %v, want one naming the event", err)
	}
}

func TestProcessorNoPriority(t *testing.T) {
	ev := storedEvent(t, "incident_triggered.json")
	env, _ := pagerduty.Decode(ev.Payload)
	if env.Event.Data.Priority == nil {
		t.Fatal("fixture should have a priority")
	}
	i := strings.Index(string(ev.Payload), `"priority": {`)
	j := strings.Index(string(ev.Payload), `"urgency"`)
	ev.Payload = []byte(string(ev.Payload[:i]) + `"priority": null, ` + string(ev.Payload[j:]))
	got, err := pagerduty.NewProcessor(catalog, nil, nil).Process(context.Background(), ev)
	if err != nil || len(got) != 1 || got[0].Priority != "" {
		t.Fatalf("got %+v, %v", got, err)
	}
}
