package deploy_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
)

type grafanaTarget struct {
	Expr       string         `json:"expr"`
	RefID      string         `json:"refId"`
	Datasource map[string]any `json:"datasource"`
}

type grafanaPanel struct {
	ID         int                      `json:"id"`
	Type       string                   `json:"type"`
	Title      string                   `json:"title"`
	Datasource map[string]any           `json:"datasource"`
	GridPos    struct{ X, Y, W, H int } `json:"gridPos"`
	Targets    []grafanaTarget          `json:"targets"`
	Panels     []grafanaPanel           `json:"panels"` // collapsed rows nest their panels
}

type grafanaDashboard struct {
	Title         string         `json:"title"`
	UID           string         `json:"uid"`
	SchemaVersion int            `json:"schemaVersion"`
	Panels        []grafanaPanel `json:"panels"`
	Templating    struct {
		List []struct {
			Name       string         `json:"name"`
			Type       string         `json:"type"`
			Query      any            `json:"query"`
			Datasource map[string]any `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
}

func loadDashboard(t *testing.T) grafanaDashboard {
	t.Helper()
	var d grafanaDashboard
	if err := json.Unmarshal(readFile(t, "grafana-dashboard.json"), &d); err != nil {
		t.Fatalf("grafana-dashboard.json: %v", err)
	}
	return d
}

// flatPanels lists every panel, including those nested in collapsed rows.
func flatPanels(ps []grafanaPanel) []grafanaPanel {
	var out []grafanaPanel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, flatPanels(p.Panels)...)
	}
	return out
}

func TestGrafanaDashboardShape(t *testing.T) {
	d := loadDashboard(t)
	if d.SchemaVersion < 39 {
		t.Errorf("schemaVersion = %d, want 39 or later", d.SchemaVersion)
	}
	if d.UID == "" || d.Title == "" {
		t.Errorf("dashboard needs a uid and a title (got %q, %q)", d.UID, d.Title)
	}
	hasDatasourceVar := false
	for _, v := range d.Templating.List {
		if v.Name == "datasource" && v.Type == "datasource" && v.Query == "prometheus" {
			hasDatasourceVar = true
		}
		if v.Type == "query" && v.Datasource["uid"] != "${datasource}" {
			t.Errorf("variable %q queries datasource %v, want ${datasource}", v.Name, v.Datasource["uid"])
		}
	}
	if !hasDatasourceVar {
		t.Error(`templating lacks a "datasource" variable of type datasource querying prometheus`)
	}
	ids := map[int]string{}
	for _, p := range flatPanels(d.Panels) {
		if prev, dup := ids[p.ID]; dup {
			t.Errorf("panel id %d used by %q and %q", p.ID, prev, p.Title)
		}
		ids[p.ID] = p.Title
		if p.GridPos.W <= 0 || p.GridPos.X+p.GridPos.W > 24 {
			t.Errorf("panel %q: gridPos x=%d w=%d does not fit Grafana's 24 columns", p.Title, p.GridPos.X, p.GridPos.W)
		}
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no queries", p.Title)
		}
		if uid := p.Datasource["uid"]; uid != "${datasource}" {
			t.Errorf("panel %q: datasource uid %v, want ${datasource} so the dashboard imports anywhere", p.Title, uid)
		}
		for _, tg := range p.Targets {
			if strings.TrimSpace(tg.Expr) == "" {
				t.Errorf("panel %q target %s has no expr", p.Title, tg.RefID)
			}
			if uid := tg.Datasource["uid"]; uid != nil && uid != "${datasource}" {
				t.Errorf("panel %q target %s: datasource uid %v, want ${datasource}", p.Title, tg.RefID, uid)
			}
		}
	}
}

func TestGrafanaDashboardMetricsExist(t *testing.T) {
	d := loadDashboard(t)
	defined := definedMetrics(t)
	var exprs []string
	for _, p := range flatPanels(d.Panels) {
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	for _, v := range d.Templating.List {
		exprs = append(exprs, fmt.Sprint(v.Query))
	}
	used := checkMetricRefs(t, "grafana-dashboard.json", exprs, defined)
	// Every metric Backout exports should be on the dashboard; a new metric
	// without a panel is usually an oversight.
	for name := range defined {
		if !used[name] {
			t.Errorf("metric %s is declared in internal/metrics but no dashboard panel draws it", name)
		}
	}
}

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Record      string            `yaml:"record"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func TestPrometheusRules(t *testing.T) {
	var rf ruleFile
	if err := strictYAML(readFile(t, "prometheus-rules.yaml"), &rf); err != nil {
		t.Fatalf("prometheus-rules.yaml: %v", err)
	}
	defined := definedMetrics(t)
	alerts := map[string]string{}
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			if _, dup := alerts[r.Alert]; dup {
				t.Errorf("alert %s defined twice", r.Alert)
			}
			alerts[r.Alert] = r.Expr
			if r.Labels["severity"] == "" || r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("alert %s needs a severity label and summary and description annotations", r.Alert)
			}
			checkMetricRefs(t, "alert "+r.Alert, []string{r.Expr}, defined)
		}
	}
	// What the rules must watch, by the expression fragment that does it.
	want := map[string]string{
		"instance down":      `up{job="backout"} == 0`,
		"webhook failures":   `backout_webhook_events_total{result=~"error|rejected"}`,
		"stuck rollbacks":    `backout_rollbacks_open{state=~"running|validating|interrupted"}`,
		"interrupted":        `backout_rollbacks_open{state="interrupted"}`,
		"overdue drills":     `backout_drill_overdue == 1`,
		"Slack API errors":   `backout_slack_api_errors_total`,
		"PagerDuty errors":   `backout_pagerduty_api_errors_total`,
		"high HTTP latency":  `backout_http_request_duration_seconds_bucket`,
		"failed rollbacks":   `backout_rollbacks_total{outcome="failed"}`,
		"Slack rate limits":  `backout_slack_rate_limited_total`,
		"PagerDuty 429s":     `backout_pagerduty_rate_limited_total`,
		"HTTP server errors": `backout_http_requests_total{code=~"5.."}`,
		"no target scraped":  `absent(up{job="backout"})`,
	}
	var all []string
	for _, e := range alerts {
		all = append(all, e)
	}
	for what, frag := range want {
		if !slices.ContainsFunc(all, func(e string) bool { return strings.Contains(e, frag) }) {
			t.Errorf("no alert covers %s (no expr contains %s)", what, frag)
		}
	}
}
