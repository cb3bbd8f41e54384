package main

import (
	"bytes"
	"fmt"
	"image/png"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/backout/backout/internal/testutil/promtest"
	"github.com/backout/backout/internal/testutil/syncbuf"
)

// recoveringService is the test exporter of a service whose error ratio is
// high until the rollback step calls it, and recovers recoverAfter later.
type recoveringService struct {
	prom         *promtest.Server
	recoverAfter time.Duration
	mu           sync.Mutex
	timer        *time.Timer
}

const (
	badRatio  = 0.3
	goodRatio = 0.01
)

func (s *recoveringService) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.timer == nil {
		s.timer = time.AfterFunc(s.recoverAfter, func() {
			s.prom.Set("demo_error_ratio", map[string]string{"service": "shop"}, goodRatio)
		})
	}
	fmt.Fprintln(w, "rolled back")
}

func (s *recoveringService) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.timer != nil {
		s.timer.Stop()
	}
}

// phasesRunbook rolls back by calling the service, then validates with a
// threshold and a baseline check of the error ratio, count 3 a second apart.
func phasesRunbook(rollbackURL, initialDelay string) string {
	return fmt.Sprintf(`name: shop
steps:
  - id: rollback
    uses: http
    with: {method: POST, url: %q}
validation:
  initial_delay: %s
  window: 1m
  checks:
    - name: error ratio
      uses: promql
      with: {query: 'max by (service) (demo_error_ratio{service="shop"})', below: 0.05}
      count: 3
      interval: 1s
    - name: error ratio against baseline
      uses: promql-baseline
      with: {query: 'max by (service) (demo_error_ratio{service="shop"})', max_increase: "0.02", baseline: 1h}
      count: 3
      interval: 1s
`, rollbackURL, initialDelay)
}

func phasesConfig(promURL string) string {
	return fmt.Sprintf(`slack:
  channel: C0SHOP
runbooks: runbooks
prometheus: {url: %q}
groups:
  oncall: {members: [alice, bob]}
approvals:
  default: {min: 1, groups: [oncall], forbid_self: true, expires_after: 30m}
services:
  - name: shop
    owners: [alice]
    channel: C0SHOP
    runbook: shop
    approval: default
    stable_after: 1h
`, promURL)
}

// TestValidationPhasesAgainstPrometheus runs a rollback through `bot
// console` against a real Prometheus scraping a service that recovers a few
// seconds after the rollback step. With initial_delay covering the recovery,
// validation passes; without it, every measurement sees the service before
// it recovered and validation fails a rollback that worked. The baseline is
// the hour before the bad deploy (backfilled history), not the incident.
// The charts' printed paths are valid while the console runs; after it, an
// explicit --charts directory is kept and the temporary one is gone.
func TestValidationPhasesAgainstPrometheus(t *testing.T) {
	now := time.Now()
	deployAt := now.Add(-10 * time.Minute)
	var history []promtest.Sample
	// The history ends more than Prometheus' 5m lookback ago, so only the
	// live series (which the scrape labels with job and instance) answers now.
	for at := now.Add(-90 * time.Minute); at.Before(now.Add(-6 * time.Minute)); at = at.Add(15 * time.Second) {
		v := goodRatio
		if at.After(deployAt) {
			v = badRatio
		}
		history = append(history, promtest.Sample{Name: "demo_error_ratio", Labels: map[string]string{"service": "shop"}, Time: at, Value: v})
	}
	prom := promtest.Start(t, promtest.WithHistory(history))
	cases := []struct {
		name, initialDelay string
		explicitCharts     bool
		want               []string
	}{
		{"settles first", "6s", true, []string{
			"waiting 6s for shop to settle, then 2 check(s) measure (window 1m)",
			"shop · error ratio: measurement #3 (count 3)",
			"Validation of shop for RB-1: 2 successful",
			"measurements", "deciding value",
			"3/3 passed", // each check measured three times, not "1/1"
			"succeeded",
		}},
		{"measures at once", "0s", false, []string{
			"❌ shop · error ratio: measurement #1 (count 3)",
			"outside < 0.05",
			"(baseline 0.01 +0.02)",
			"Validation of shop for RB-1: 2 failed",
			"1 of 1 failed, stopped after 1 of 3", // failure_limit 0: the first failure decides
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			prom.Set("demo_error_ratio", map[string]string{"service": "shop"}, badRatio)
			promtest.WaitFor(t, prom.URL, `max by (service) (demo_error_ratio{service="shop"})`, func(v []float64) bool { return len(v) == 1 && v[0] == badRatio })
			svc := &recoveringService{prom: prom, recoverAfter: 3 * time.Second}
			ctl := httptest.NewServer(svc)
			defer ctl.Close()
			defer svc.stop()
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "bot.yaml"), phasesConfig(prom.URL))
			writeFile(t, filepath.Join(dir, "runbooks", "shop.yaml"), phasesRunbook(ctl.URL+"/rollback", tc.initialDelay))
			age := time.Since(deployAt).Round(time.Second)
			pm := filepath.Join(dir, "pm", "postmortem-RB-1.md")
			writeFile(t, pm, "")
			script := fmt.Sprintf("deploy shop 1.0.0 3h\ndeploy shop 1.1.0 %s\nas alice\n/rollback propose shop 1.1.0 errors\nas bob\nclick 1\nwait\npostmortem RB-1 --out %s\n", age, pm)
			args := []string{"console", "--config", filepath.Join(dir, "bot.yaml")}
			if tc.explicitCharts {
				args = append(args, "--charts", filepath.Join(dir, "charts"))
			}
			tmp := t.TempDir()
			t.Setenv("TMPDIR", tmp) // the console's temporary directories, and nothing else's
			transcript := runConsoleWhile(t, args, script, func(transcript string) bool {
				return len(chartLine.FindAllString(transcript, -1)) == 2
			}, func(transcript string) { checkCharts(t, transcript) })
			for _, want := range tc.want {
				if !strings.Contains(transcript, want) {
					t.Errorf("transcript does not say %q:\n%s", want, transcript)
				}
			}
			checkBaselineBeforeDeploy(t, transcript)
			if tc.explicitCharts {
				checkCharts(t, transcript) // kept
			} else {
				checkChartsGone(t, transcript, tmp)
			}
			checkPostmortemCharts(t, pm)
		})
	}
}

// runConsoleWhile runs `bot console` with args on script, calls during
// with the transcript once ready says so (the console still running), then
// ends its input and returns the whole transcript once it has exited.
func runConsoleWhile(t *testing.T, args []string, script string, ready func(string) bool, during func(string)) string {
	t.Helper()
	stdin, feed := io.Pipe()
	var out, errOut syncbuf.Buffer
	exited := make(chan int, 1)
	go func() { exited <- run(args, stdin, &out, &errOut, env("BACKOUT_DEMO_DIR", t.TempDir())) }()
	go func() { _, _ = io.WriteString(feed, script) }()
	deadline := time.Now().Add(2 * time.Minute)
	for !ready(out.String()) {
		select {
		case code := <-exited:
			t.Fatalf("console exited (%d) before it was ready\n%s\n%s", code, out.String(), errOut.String())
		default:
		}
		if time.Now().After(deadline) {
			feed.Close()
			t.Fatalf("console not ready after 2m\n%s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	during(out.String())
	feed.Close() // end of input: the console waits for its work, then leaves
	if code := <-exited; code != exitOK {
		t.Fatalf("exit %d\n%s\n%s", code, out.String(), errOut.String())
	}
	return out.String()
}

// checkChartsGone: after the console, the charts it wrote to its own
// temporary directory are gone, and so is the directory.
func checkChartsGone(t *testing.T, transcript, tmp string) {
	t.Helper()
	for _, m := range chartLine.FindAllStringSubmatch(transcript, -1) {
		if _, err := os.Stat(m[3]); !os.IsNotExist(err) {
			t.Errorf("chart %s still there after the console: %v", m[3], err)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(tmp, "backout-*")); len(left) > 0 {
		t.Errorf("the console left %v behind", left)
	}
}

var baselineValue = regexp.MustCompile(`baseline ([0-9.e-]+) \+0\.02`)

// checkBaselineBeforeDeploy: the baseline is the hour before the deploy, so
// it is the good ratio, never an average polluted by the incident.
func checkBaselineBeforeDeploy(t *testing.T, transcript string) {
	t.Helper()
	m := baselineValue.FindStringSubmatch(transcript)
	if m == nil {
		t.Fatalf("no baseline in the transcript:\n%s", transcript)
	}
	var v float64
	fmt.Sscan(m[1], &v)
	if math.Abs(v-goodRatio) > 1e-9 {
		t.Errorf("baseline %s, want %v (the hour before the deploy)", m[1], goodRatio)
	}
}

var chartLine = regexp.MustCompile(`📈 RB-1 · shop · ([a-z ]+) \((Successful|Failed)\): (\S+\.png)\n\s+([▁▂▃▄▅▆▇█]+)\n`)

// checkCharts: each metric check's chart is written to a PNG file whose
// path the console prints, with the series as a sparkline.
func checkCharts(t *testing.T, transcript string) {
	t.Helper()
	found := chartLine.FindAllStringSubmatch(transcript, -1)
	if len(found) != 2 {
		t.Fatalf("want 2 charts, found %d in:\n%s", len(found), transcript)
	}
	for _, m := range found {
		f, err := os.Open(m[3])
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", m[3], err)
		}
		if size := img.Bounds().Size(); size.X != 900 || size.Y != 450 {
			t.Errorf("%s: %v", m[3], size)
		}
		if !strings.ContainsAny(m[4], "█") || !strings.ContainsAny(m[4], "▁") {
			t.Errorf("sparkline of %s shows no incident: %s", m[1], m[4])
		}
	}
}

// checkPostmortemCharts: the post-mortem links its charts by relative
// path, and the PNGs are written beside it.
func checkPostmortemCharts(t *testing.T, pm string) {
	t.Helper()
	md, err := os.ReadFile(pm)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"RB-1-shop-error-ratio.png", "RB-1-shop-error-ratio-against-baseline.png"} {
		if !strings.Contains(string(md), "]("+name+")") {
			t.Errorf("post-mortem does not link %s", name)
		}
		b, err := os.ReadFile(filepath.Join(filepath.Dir(pm), name))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := png.Decode(bytes.NewReader(b)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}
