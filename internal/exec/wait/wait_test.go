package wait

import (
	"context"
	"errors"
	"fmt"
	stdhttp "net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/backout/backout/internal/exec"
	"github.com/backout/backout/internal/yamlx"
)

func node(t *testing.T, src string) yamlx.Node {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	return yamlx.Node{File: "r.yaml", Node: doc.Content[0]}
}

func TestValidate(t *testing.T) {
	tests := []struct{ prom, src, want string }{
		{"http://prom:9090", `{query: "up", below: 0.05}`, ""},
		{"", `{query: "up", above: "{{ .Params.min }}", prometheus_url: "{{ .Params.prom }}", interval: "{{ .Params.i }}"}`, ""},
		{"", `{url: "https://x/healthz", expect_status: [200, 204], interval: 1s}`, ""},
		{"", `{}`, `r.yaml:1:1: missing required field "query" or "url"`},
		{"", `{query: up, below: 1}`, `r.yaml:1:1: missing required field "prometheus_url" (no default is configured)`},
		{"http://p", `{query: up}`, `r.yaml:1:1: missing required field "below" or "above"`},
		{"http://p", "query: up\nbelow: 1\nabove: 2", `r.yaml:3:1: above: set either below or above, not both`},
		{"http://p", "query: up\nbelow: low", `r.yaml:2:1: below: expected a number, got "low"`},
		{"http://p", "query: up\nbelow: 1\nexpect_status: 200", `r.yaml:3:1: expect_status: not used with query (only with url)`},
		{"", "query: up\nbelow: 1\nprometheus_url: prom:9090", `r.yaml:3:1: prometheus_url: "prom:9090": want an http:// or https:// URL`},
		{"", "url: http://x\nquery: up", `r.yaml:1:1: url: set either query or url, not both`},
		{"", "url: http://x\nbelow: 3", `r.yaml:2:1: below: not used with url (only with query)`},
		{"", "url: http://x\nexpect_status: [600]", `r.yaml:2:17: expect_status[0]: expected an HTTP status code, got "600"`},
		{"", "url: http://x\ninterval: 0s", "r.yaml:2:1: interval: must be more than 0"},
		{"", "url: http://x\ninterval: x", `r.yaml:2:1: interval: invalid duration "x" (examples: 30s, 5m, 1h, 7d)`},
		// The step's timeout is the only one (runbook lint says so first).
		{"", "url: http://x\ntimeout: 2m", `r.yaml:2:1: unknown key "timeout"`},
		{"", "url: http://x\ninterval: 1s\ninterva: 2s", `r.yaml:3:1: unknown key "interva" (did you mean "interval"?)`},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			err := New(Config{PrometheusURL: tt.prom}).Validate(node(t, tt.src))
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Fatalf("got:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

// promFake answers /api/v1/query with one scripted body per call, repeating
// the last, and records the queries it saw.
type promFake struct {
	mu      sync.Mutex
	answers []string
	queries []string
}

func (p *promFake) ServeHTTP(w stdhttp.ResponseWriter, r *stdhttp.Request) {
	if r.URL.Path != "/api/v1/query" {
		stdhttp.NotFound(w, r)
		return
	}
	_ = r.ParseForm()
	p.mu.Lock()
	p.queries = append(p.queries, r.Form.Get("query"))
	body := p.answers[0]
	if len(p.answers) > 1 {
		p.answers = p.answers[1:]
	}
	p.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if strings.Contains(body, `"status":"error"`) {
		w.WriteHeader(stdhttp.StatusBadRequest)
	}
	fmt.Fprint(w, body)
}

func vector(values ...string) string {
	var rs []string
	for i, v := range values {
		rs = append(rs, fmt.Sprintf(`{"metric":{"pod":"p%d"},"value":[1700000000,"%s"]}`, i, v))
	}
	return `{"status":"success","data":{"resultType":"vector","result":[` + strings.Join(rs, ",") + `]}}`
}

func TestQueryUntilConditionHolds(t *testing.T) {
	prom := &promFake{answers: []string{vector(), vector("0.5", "0.01"), vector("0.02", "0.01")}}
	srv := httptest.NewServer(prom)
	defer srv.Close()
	var progress []string
	req := exec.Request{With: node(t, `{query: "rate(errors[1m])", below: 0.05, interval: 5ms}`), Timeout: time.Minute,
		Progress: func(line string) { progress = append(progress, line) }}
	res, err := New(Config{PrometheusURL: srv.URL}).Run(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if want := `0.02 {pod="p0"}, 0.01 {pod="p1"} (want < 0.05) after 3 poll(s)`; res.Output != want {
		t.Fatalf("output %q, want %q", res.Output, want)
	}
	// Each unmet poll is shown while the step waits.
	if len(progress) != 2 || !strings.HasPrefix(progress[1], `poll 2: 0.5 {pod="p0"}`) {
		t.Fatalf("progress %q", progress)
	}
	prom.mu.Lock()
	defer prom.mu.Unlock()
	if len(prom.queries) != 3 || prom.queries[0] != "rate(errors[1m])" {
		t.Fatalf("queries %q", prom.queries)
	}
}

func TestQueryScalarAbove(t *testing.T) {
	prom := &promFake{answers: []string{`{"status":"success","data":{"resultType":"scalar","result":[1700000000,"12"]}}`}}
	srv := httptest.NewServer(prom)
	defer srv.Close()
	req := exec.Request{With: node(t, `{query: "scalar(up)", above: 10, interval: 5ms, prometheus_url: "`+srv.URL+`"}`)}
	res, err := New(Config{}).Run(context.Background(), req)
	if err != nil || res.Output != "12 (want > 10) after 1 poll(s)" {
		t.Fatalf("%q %v", res.Output, err)
	}
}

// TestQueryTimesOut: the wait lasts as long as the step's timeout
// (Request.Timeout), with no deadline on the context.
func TestQueryTimesOut(t *testing.T) {
	tests := []struct{ name, answer, last string }{
		{"no data keeps waiting", vector(), "no data"},
		{"value never drops", vector("0.5"), `0.5 {pod="p0"} (want < 0.05)`},
		{"NaN never holds", vector("NaN"), `NaN {pod="p0"} (want < 0.05)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(&promFake{answers: []string{tt.answer}})
			defer srv.Close()
			req := exec.Request{With: node(t, `{query: up, below: 0.05, interval: 10ms}`), Timeout: 150 * time.Millisecond}
			_, err := New(Config{PrometheusURL: srv.URL}).Run(context.Background(), req)
			if err == nil || exec.IsRetryable(err) {
				t.Fatalf("err = %v, want a final failure", err)
			}
			if msg := err.Error(); !strings.HasPrefix(msg, "condition not met within the step's timeout of 150ms (") || !strings.HasSuffix(msg, "; last: "+tt.last+")") {
				t.Fatalf("err = %q", msg)
			}
		})
	}
}

// TestDeadlineWithoutTimeout: a request with no timeout still ends at the
// context's deadline, and says so.
func TestDeadlineWithoutTimeout(t *testing.T) {
	srv := httptest.NewServer(&promFake{answers: []string{vector()}})
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req := exec.Request{With: node(t, `{query: up, below: 1, interval: 10ms}`)}
	_, err := New(Config{PrometheusURL: srv.URL}).Run(ctx, req)
	if err == nil || !strings.HasPrefix(err.Error(), "condition not met before the step's deadline (") {
		t.Fatalf("err = %v", err)
	}
}

func TestQueryRejected(t *testing.T) {
	srv := httptest.NewServer(&promFake{answers: []string{`{"status":"error","errorType":"bad_data","error":"parse error at char 3"}`}})
	defer srv.Close()
	req := exec.Request{With: node(t, `{query: "up((", below: 1, interval: 10ms}`)}
	_, err := New(Config{PrometheusURL: srv.URL}).Run(context.Background(), req)
	if err == nil || err.Error() != "query rejected by Prometheus: parse error at char 3" {
		t.Fatalf("err = %v", err)
	}
}

func TestQueryPrometheusDownKeepsWaiting(t *testing.T) {
	srv := httptest.NewServer(stdhttp.NotFoundHandler())
	url := srv.URL
	srv.Close()
	req := exec.Request{With: node(t, `{query: up, below: 1, interval: 10ms}`), Timeout: 100 * time.Millisecond}
	_, err := New(Config{PrometheusURL: url}).Run(context.Background(), req)
	if err == nil || !strings.Contains(err.Error(), "last: query failed: ") {
		t.Fatalf("err = %v", err)
	}
}

func TestURLUntilStatus(t *testing.T) {
	var mu sync.Mutex
	calls := 0
	srv := httptest.NewServer(stdhttp.HandlerFunc(func(w stdhttp.ResponseWriter, r *stdhttp.Request) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls < 3 {
			w.WriteHeader(stdhttp.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(stdhttp.StatusNoContent)
	}))
	defer srv.Close()
	req := exec.Request{With: node(t, `{url: "`+srv.URL+`/healthz", expect_status: 204, interval: 5ms}`)}
	res, err := New(Config{}).Run(context.Background(), req)
	if err != nil || res.Output != "HTTP 204 No Content after 3 poll(s)" {
		t.Fatalf("%q %v", res.Output, err)
	}
}

func TestCancelStopsWaiting(t *testing.T) {
	srv := httptest.NewServer(&promFake{answers: []string{vector()}})
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	req := exec.Request{With: node(t, `{query: up, below: 1, interval: 10ms}`), Timeout: time.Hour}
	_, err := New(Config{PrometheusURL: srv.URL}).Run(ctx, req)
	if !errors.Is(err, context.Canceled) || exec.IsRetryable(err) {
		t.Fatalf("err = %v", err)
	}
}

func TestPreviewAndDryRun(t *testing.T) {
	prom := &promFake{answers: []string{vector()}}
	srv := httptest.NewServer(prom)
	defer srv.Close()
	req := exec.Request{With: node(t, `{query: "sum(up)", above: 2}`), DryRun: true, Timeout: 5 * time.Minute}
	e := New(Config{PrometheusURL: srv.URL})
	want := "wait until sum(up) > 2 on " + srv.URL + " (every 10s, up to 5m)"
	if got, err := e.Preview(context.Background(), req); err != nil || got != want {
		t.Fatalf("preview %q %v", got, err)
	}
	res, err := e.Run(context.Background(), req)
	if err != nil || res.Output != want {
		t.Fatalf("dry run %q %v", res.Output, err)
	}
	prom.mu.Lock()
	defer prom.mu.Unlock()
	if len(prom.queries) != 0 {
		t.Fatal("dry run queried Prometheus")
	}
	req = exec.Request{With: node(t, `{url: "https://x/healthz", interval: 1s}`), Timeout: 30 * time.Second}
	if got, _ := e.Preview(context.Background(), req); got != "wait until GET https://x/healthz answers 2xx (every 1s, up to 30s)" {
		t.Fatalf("preview %q", got)
	}
	req.Timeout = 0
	if got, _ := e.Preview(context.Background(), req); got != "wait until GET https://x/healthz answers 2xx (every 1s)" {
		t.Fatalf("preview without a timeout %q", got)
	}
}
