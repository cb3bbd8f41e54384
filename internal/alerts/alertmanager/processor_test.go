package alertmanager_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/backout/backout/internal/alerts/alertmanager"
	"github.com/backout/backout/internal/alerts/alertstest"
	"github.com/backout/backout/internal/config"
	"github.com/backout/backout/internal/incident"
	"github.com/backout/backout/internal/store"
)

var catalog = []config.Service{
	{Name: "checkout", AlertLabels: map[string]string{"app": "checkout", "env": "production"}},
	{Name: "cart", AlertLabels: map[string]string{"app": "~cart|basket", "env": "~prod.*"}},
	{Name: "search"}, // no alert_labels: never matched
}

func process(t *testing.T, services []config.Service, file string) ([]incident.Alert, *alertstest.Metrics) {
	t.Helper()
	m := &alertstest.Metrics{}
	p, err := alertmanager.NewProcessor(services, m, nil)
	if err != nil {
		t.Fatal(err)
	}
	out, err := p.Process(context.Background(), store.Event{ID: "am-x", Source: "alertmanager", Payload: fixture(t, file)})
	if err != nil {
		t.Fatal(err)
	}
	return out, m
}

func at(s string) time.Time {
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return v
}

func TestProcessorFixtures(t *testing.T) {
	const gk = `{}/{env="production"}:{alertname="HighErrorRate"}`
	const url = "http://prometheus.example.com/graph?g0.expr=sum+by+%28app%29+%28rate%28http_requests_total%7Bcode%3D~%225..%22%7D%5B5m%5D%29%29+%3E+0.05&g0.tab=1"
	base := incident.Alert{Source: "alertmanager", Service: "checkout", IncidentID: gk, URL: url, Urgency: "critical"}
	mk := func(kind, summary, when string) incident.Alert {
		a := base
		a.Kind, a.Summary, a.At = kind, summary, at(when)
		return a
	}
	tests := []struct {
		file    string
		want    []incident.Alert
		ignored int
	}{
		{"firing.json", []incident.Alert{mk(incident.AlertTriggered, "checkout 5xx ratio above 5% (+1 more)", "2024-05-20T13:59:52.120Z")}, 0},
		{"resolved.json", []incident.Alert{mk(incident.AlertResolved, "checkout 5xx ratio above 5% (+1 more)", "2024-05-20T14:21:37.001Z")}, 0},
		// One of two recovered: the service is still firing, so no resolved.
		{"partly_resolved.json", []incident.Alert{mk(incident.AlertTriggered, "checkout 5xx ratio above 5%", "2024-05-20T14:00:07.396Z")}, 0},
		{"staging.json", nil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got, m := process(t, catalog, tt.file)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d alerts %+v, want %d", len(got), got, len(tt.want))
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("alert %d:\n got  %+v\n want %+v", i, got[i], tt.want[i])
				}
			}
			if m.Get("ignored/alertmanager/unknown_service") != tt.ignored {
				t.Errorf("unknown_service counted %d, want %d", m.Get("ignored/alertmanager/unknown_service"), tt.ignored)
			}
		})
	}
}

func TestProcessorSeveralServices(t *testing.T) {
	got, m := process(t, catalog, "several_services.json")
	var kinds []string
	for _, a := range got {
		kinds = append(kinds, a.Service+"/"+a.Kind)
		if a.IncidentID != `{}:{alertname="HighErrorRate"}` {
			t.Errorf("incident id %q", a.IncidentID)
		}
	}
	if strings.Join(kinds, " ") != "checkout/triggered cart/resolved" {
		t.Fatalf("got %v", kinds)
	}
	if m.Get("ignored/alertmanager/unknown_service") != 1 {
		t.Error("the search alert (no service claims it) was not counted")
	}
}

func TestLabelMatching(t *testing.T) {
	tests := []struct {
		name   string
		want   map[string]string
		labels map[string]string
		match  bool
	}{
		{"exact", map[string]string{"app": "cart"}, map[string]string{"app": "cart", "x": "y"}, true},
		{"exact differs", map[string]string{"app": "cart"}, map[string]string{"app": "carts"}, false},
		{"label missing", map[string]string{"app": "cart"}, map[string]string{}, false},
		{"every label must match", map[string]string{"app": "cart", "env": "prod"}, map[string]string{"app": "cart", "env": "dev"}, false},
		{"regex", map[string]string{"app": "~cart|basket"}, map[string]string{"app": "basket"}, true},
		{"regex is anchored at the end", map[string]string{"app": "~cart"}, map[string]string{"app": "cart-v2"}, false},
		{"regex is anchored at the start", map[string]string{"app": "~cart"}, map[string]string{"app": "my-cart"}, false},
		{"alternation stays anchored", map[string]string{"app": "~a|b"}, map[string]string{"app": "xb"}, false},
		{"regex may match a missing label as empty", map[string]string{"app": "~.*"}, map[string]string{}, true},
		{"no alert_labels never matches", nil, map[string]string{"app": "cart"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := alertmanager.NewProcessor([]config.Service{{Name: "svc", AlertLabels: tt.want}}, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			msg := `{"version":"4","groupKey":"g","status":"firing","alerts":[{"status":"firing","labels":` + jsonMap(tt.labels) + `}]}`
			got, err := p.Process(context.Background(), store.Event{Payload: []byte(msg)})
			if err != nil {
				t.Fatal(err)
			}
			if (len(got) == 1) != tt.match {
				t.Fatalf("got %+v, want match=%v", got, tt.match)
			}
		})
	}
}

func jsonMap(m map[string]string) string {
	var parts []string
	for k, v := range m {
		parts = append(parts, `"`+k+`":"`+v+`"`)
	}
	return "{" + strings.Join(parts, ",") + "}"
}

func TestBadRegex(t *testing.T) {
	bad := []config.Service{{Name: "svc", AlertLabels: map[string]string{"app": "~(unclosed"}}}
	if _, err := alertmanager.NewProcessor(bad, nil, nil); err == nil || !strings.Contains(err.Error(), "services.svc.alert_labels.app") {
		t.Fatalf("err %v", err)
	}
	if err := alertmanager.CheckAlertLabels(bad); err == nil {
		t.Fatal("CheckAlertLabels accepted a bad expression")
	}
}

func TestProcessorPoison(t *testing.T) {
	p, _ := alertmanager.NewProcessor(catalog, nil, nil)
	if _, err := p.Process(context.Background(), store.Event{ID: "am-bad", Payload: []byte("[")}); err == nil {
		t.Fatal("want an error")
	}
}
