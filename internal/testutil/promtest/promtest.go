// Package promtest runs a real Prometheus for tests: the `prometheus` binary
// on a free loopback port, scraping every second a local target whose metric
// values the test sets. Prometheus is used as a binary, never as a Go
// module, so the project does not depend on its code.
//
// Prometheus only starts scraping about five seconds after it is ready (its
// target discovery sends updates at most every 5s). Tests that need hours of
// data, or data at once, pass WithHistory: the samples are written as
// OpenMetrics and turned into TSDB blocks by `promtool tsdb
// create-blocks-from openmetrics` before Prometheus starts, and queries at
// past evaluation times see them immediately.
package promtest

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/backout/backout/internal/testutil/syncbuf"
)

// Server is a running Prometheus and the target it scrapes.
type Server struct {
	// URL is the Prometheus HTTP API base, e.g. http://127.0.0.1:40123.
	URL    string
	target *target
}

// startTimeout bounds the wait for /-/ready and for data.
const startTimeout = 30 * time.Second

// Sample is one historical sample for WithHistory.
type Sample struct {
	Name   string
	Labels map[string]string
	Time   time.Time
	Value  float64
}

// Option changes how Start runs Prometheus.
type Option func(*options)

type options struct{ history []Sample }

// WithHistory preloads samples (which must all lie in the past) into the
// TSDB before Prometheus starts.
func WithHistory(samples []Sample) Option {
	return func(o *options) { o.history = append(o.history, samples...) }
}

// Start runs Prometheus until the test ends. Without the binaries the test
// is skipped, or fails when CI=true so CI cannot silently skip it.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	bin := lookPath(t, "prometheus")
	tg := newTarget()
	srv := httptest.NewServer(tg)
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte(config(srv.Listener.Addr().String())), 0o600); err != nil {
		t.Fatalf("promtest: write config: %v", err)
	}
	data := filepath.Join(dir, "data")
	if len(o.history) > 0 {
		if err := backfill(lookPath(t, "promtool"), filepath.Join(dir, "history.om"), data, o.history); err != nil {
			t.Fatalf("promtest: %v", err)
		}
	}
	var lastErr error
	// The free port is found by listening and closing, so another process
	// can take it in between; a few attempts make that harmless.
	for attempt := 0; attempt < 3; attempt++ {
		u, err := launch(t, bin, cfg, data)
		if err == nil {
			return &Server{URL: u, target: tg}
		}
		lastErr = err
	}
	t.Fatalf("promtest: %v", lastErr)
	return nil
}

func lookPath(t testing.TB, name string) string {
	t.Helper()
	bin, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("promtest: %s not found (apt-get install prometheus): %v", name, err)
		}
		t.Skipf("promtest: %s not found (apt-get install prometheus): %v", name, err)
	}
	return bin
}

// backfill writes samples as OpenMetrics and has promtool build TSDB
// blocks from them in data.
func backfill(promtool, file, data string, samples []Sample) error {
	if err := os.WriteFile(file, openMetrics(samples), 0o600); err != nil {
		return fmt.Errorf("write history: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, promtool, "tsdb", "create-blocks-from", "openmetrics", "--quiet", file, data).CombinedOutput()
	if err != nil {
		return fmt.Errorf("promtool create-blocks-from openmetrics: %w\n%s", err, out)
	}
	return nil
}

func config(target string) string {
	return fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: promtest
    honor_labels: true
    static_configs:
      - targets: [%q]
`, target)
}

// launch starts one Prometheus process and waits until it is ready.
func launch(t testing.TB, bin, cfg, data string) (string, error) {
	port, err := freePort()
	if err != nil {
		return "", err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	out := &syncbuf.Buffer{}
	cmd := exec.Command(bin,
		"--config.file="+cfg,
		"--storage.tsdb.path="+data,
		"--web.listen-address="+addr,
		"--log.level=warn",
	)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("start prometheus: %w", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}
	base := "http://" + addr
	if err := waitReady(base, exited); err != nil {
		stop()
		return "", fmt.Errorf("%w\nprometheus output:\n%s", err, out.String())
	}
	t.Cleanup(stop)
	return base, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func waitReady(base string, exited <-chan struct{}) error {
	deadline := time.Now().Add(startTimeout)
	client := &http.Client{Timeout: time.Second}
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("prometheus exited before it was ready")
		default:
		}
		resp, err := client.Get(base + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("prometheus not ready after %s", startTimeout)
}

// Set exposes a gauge sample on the target; Prometheus sees it at its next
// scrape (within a second). It panics on an invalid metric or label name,
// which is a bug in the test.
func (s *Server) Set(name string, labels map[string]string, value float64) {
	s.target.set(name, labels, value)
}

// Delete stops exposing a sample; Prometheus marks the series stale.
func (s *Server) Delete(name string, labels map[string]string) {
	s.target.delete(name, labels)
}

// WaitForData waits until an instant query returns at least one sample.
func (s *Server) WaitForData(t testing.TB, query string) {
	t.Helper()
	WaitFor(t, s.URL, query, func(v []float64) bool { return len(v) > 0 })
}

// WaitFor polls an instant query until ok accepts its sample values (in
// result order), failing the test after 30s.
func WaitFor(t testing.TB, promURL, query string, ok func(values []float64) bool) {
	t.Helper()
	deadline := time.Now().Add(startTimeout)
	var last []float64
	var lastErr error
	for time.Now().Before(deadline) {
		last, lastErr = Query(context.Background(), promURL, query)
		if lastErr == nil && ok(last) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("promtest: query %q never satisfied the condition: last values %v, error %v", query, last, lastErr)
}

// Query runs an instant query now and returns its values (scalar: one value).
func Query(ctx context.Context, promURL, query string) ([]float64, error) {
	return QueryAt(ctx, promURL, query, time.Time{})
}

// QueryAt runs an instant query at a given time (zero: now).
func QueryAt(ctx context.Context, promURL, query string, at time.Time) ([]float64, error) {
	q := url.Values{"query": {query}}
	if !at.IsZero() {
		q.Set("time", strconv.FormatFloat(float64(at.UnixMilli())/1000, 'f', 3, 64))
	}
	u := promURL + "/api/v1/query?" + q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("query %q: %w", query, err)
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, fmt.Errorf("query %q: decode: %w", query, err)
	}
	if body.Status != "success" {
		return nil, fmt.Errorf("query %q: %s", query, body.Error)
	}
	return parseValues(body.Data.ResultType, body.Data.Result)
}

func parseValues(kind string, raw json.RawMessage) ([]float64, error) {
	var pairs [][2]any
	switch kind {
	case "vector":
		var vec []struct {
			Value [2]any `json:"value"`
		}
		if err := json.Unmarshal(raw, &vec); err != nil {
			return nil, fmt.Errorf("decode vector: %w", err)
		}
		for _, s := range vec {
			pairs = append(pairs, s.Value)
		}
	case "scalar":
		var p [2]any
		if err := json.Unmarshal(raw, &p); err != nil {
			return nil, fmt.Errorf("decode scalar: %w", err)
		}
		pairs = append(pairs, p)
	default:
		return nil, fmt.Errorf("unsupported result type %q", kind)
	}
	out := make([]float64, 0, len(pairs))
	for _, p := range pairs {
		s, _ := p[1].(string)
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("sample value %v: %w", p[1], err)
		}
		out = append(out, v)
	}
	return out, nil
}
