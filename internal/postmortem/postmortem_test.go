package postmortem

import (
	"bytes"
	"context"
	"flag"
	"image/png"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/backout/backout/internal/chat"
	"github.com/backout/backout/internal/rollback"
	"github.com/backout/backout/internal/store"
	boltstore "github.com/backout/backout/internal/store/bolt"
)

var update = flag.Bool("update", false, "rewrite golden files")

var t0 = time.Date(2026, 11, 27, 9, 30, 0, 0, time.UTC)

func seed(t *testing.T) store.Store {
	t.Helper()
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "s.db"), boltstore.Options{Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ctx := context.Background()
	r := &rollback.Record{ID: "RB-7", State: rollback.StateSucceeded, Scope: "service", Requester: "pagerduty",
		Reason: "2.4.1 deployed 4m ago, just before this alert",
		Trigger: rollback.Trigger{Kind: "alert", Source: "pagerduty", IncidentID: "Q1ABC", URL: "https://acme.pagerduty.com/incidents/Q1ABC",
			Summary: "High 5xx on checkout", At: t0.Add(-2 * time.Minute)},
		Services: []rollback.ServiceChange{{Service: "checkout", Runbook: "k8s-deployment",
			Current: rollback.Release{Version: "2.4.1", Artifact: "reg/checkout@sha256:aaa"}, Target: rollback.Release{Version: "2.4.0", Artifact: "reg/checkout@sha256:bbb"}}},
		PlanHash: "9c1e2f3a", Approvers: []string{"U0BOB", "U0CAROL"}, Constraints: []string{"checkout: PCI retention"},
		DataKeeps: []string{"checkout: orders written since the deploy"}, RecoveryTarget: 10 * time.Minute, MaxDataLoss: new(time.Duration),
		CreatedAt: t0, DecidedAt: t0.Add(3 * time.Minute), StartedAt: t0.Add(3 * time.Minute), ValidatingAt: t0.Add(5 * time.Minute),
		EndedAt: t0.Add(8 * time.Minute), Outcome: "checkout 2.4.1 → 2.4.0",
		Validation: []rollback.CheckResult{{Service: "checkout", Name: "error ratio at baseline", Status: "Successful", Value: "0.004", Bound: "<= 0.011",
			Chart: &rollback.Chart{Query: "errors", From: t0.Add(-10 * time.Minute), To: t0.Add(8 * time.Minute),
				Series: []rollback.ChartSeries{{Name: "{}", Points: []rollback.ChartPoint{{At: t0.Add(-5 * time.Minute), Value: 0.004}, {At: t0, Value: 0.2}, {At: t0.Add(7 * time.Minute), Value: 0.004}}}},
				Marks:  []rollback.ChartMark{{Label: "alert", At: t0.Add(-2 * time.Minute)}}}}},
		SupportUntil: t0.Add(2*time.Hour + 8*time.Minute),
		SupportReports: []rollback.SupportReport{{User: "U0SUPPORT1", At: t0.Add(20 * time.Minute)},
			{User: "U0SUPPORT2", At: t0.Add(34 * time.Minute)}},
	}
	if err := st.CreateRollback(ctx, r); err != nil {
		t.Fatal(err)
	}
	for _, v := range []rollback.Vote{{RollbackID: "RB-7", User: "U0BOB", Approve: true, PlanHash: "9c1e2f3a", Counted: true, At: t0.Add(time.Minute)},
		{RollbackID: "RB-7", User: "U0CAROL", Approve: true, PlanHash: "9c1e2f3a", Counted: true, At: t0.Add(3 * time.Minute)}} {
		if _, err := st.PutVote(ctx, v); err != nil {
			t.Fatal(err)
		}
	}
	for _, ev := range []rollback.StepEvent{
		{Service: "checkout", StepID: "set-image", Kind: rollback.StepStarted, Attempt: 1, At: t0.Add(3 * time.Minute)},
		{Service: "checkout", StepID: "set-image", Kind: rollback.StepSucceeded, Attempt: 1, At: t0.Add(3*time.Minute + 2*time.Second), Duration: 2 * time.Second, Output: "deployment.apps/checkout image updated"},
		{Service: "checkout", StepID: "wait-rollout", Kind: rollback.StepStarted, Attempt: 1, At: t0.Add(3*time.Minute + 2*time.Second)},
		{Service: "checkout", StepID: "wait-rollout", Kind: rollback.StepRetrying, Attempt: 1, At: t0.Add(4 * time.Minute), Error: "timed out"},
		{Service: "checkout", StepID: "wait-rollout", Kind: rollback.StepStarted, Attempt: 2, At: t0.Add(4 * time.Minute)},
		{Service: "checkout", StepID: "wait-rollout", Kind: rollback.StepSucceeded, Attempt: 2, At: t0.Add(5 * time.Minute), Duration: time.Minute, Output: "successfully rolled out"},
	} {
		if _, err := st.AppendSteps(ctx, "RB-7", 0, ev); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

func TestRenderGolden(t *testing.T) {
	st := seed(t)
	w := &Writer{Store: st, Log: slog.New(slog.DiscardHandler)}
	r, err := st.GetRollback(context.Background(), "RB-7")
	if err != nil {
		t.Fatal(err)
	}
	got, err := w.Render(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "postmortem-RB-7.md")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("post-mortem differs from %s (run -update after checking):\n%s", golden, got)
	}
}

type uploads struct {
	mu    sync.Mutex
	files []string
}

func (u *uploads) Post(_ context.Context, ref chat.Ref, _ chat.Message) (chat.Ref, error) {
	return ref, nil
}
func (u *uploads) Update(context.Context, chat.Ref, chat.Message) error          { return nil }
func (u *uploads) Ephemeral(context.Context, string, string, chat.Message) error { return nil }
func (u *uploads) Upload(_ context.Context, ref chat.Ref, name, _, _ string) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.files = append(u.files, ref.Channel+"/"+ref.Thread+"/"+name)
	return nil
}

// TestDelivered checks the draft is stored, uploaded in the thread and sent
// to the configured webhook when a rollback ends.
func TestDelivered(t *testing.T) {
	st := seed(t)
	var got string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := make([]byte, 1<<16)
		n, _ := r.Body.Read(b)
		got = string(b[:n])
		w.WriteHeader(http.StatusCreated)
	}))
	defer hook.Close()
	up := &uploads{}
	w := &Writer{Store: st, Poster: up, WebhookURL: hook.URL, Log: slog.New(slog.DiscardHandler)}
	r, _ := st.GetRollback(context.Background(), "RB-7")
	r.Channel, r.MessageTS = "C0CHECKOUT", "171.1"
	w.RollbackEnded(context.Background(), r)
	if len(up.files) != 1 || up.files[0] != "C0CHECKOUT/171.1/postmortem-RB-7.md" {
		t.Errorf("uploads = %v", up.files)
	}
	stored, err := w.Get(context.Background(), "RB-7")
	if err != nil || !strings.Contains(stored, "# Post-mortem: Rollback RB-7") {
		t.Errorf("stored = %.60q, %v", stored, err)
	}
	if !strings.Contains(got, `"rollback_id":"RB-7"`) || !strings.Contains(got, "Post-mortem") {
		t.Errorf("webhook got %.200q", got)
	}
}

// TestChartsBesideThePostmortem: the post-mortem links each chart by the
// file name Charts draws it under.
func TestChartsBesideThePostmortem(t *testing.T) {
	st := seed(t)
	w := &Writer{Store: st, Log: slog.New(slog.DiscardHandler)}
	images, err := w.Charts(context.Background(), "RB-7")
	if err != nil || len(images) != 1 {
		t.Fatalf("Charts = %d, %v", len(images), err)
	}
	md, err := w.Get(context.Background(), "RB-7")
	if err != nil {
		t.Fatal(err)
	}
	if link := "](" + images[0].Filename + ")"; !strings.Contains(md, link) {
		t.Fatalf("post-mortem does not link %s:\n%s", link, md)
	}
	if _, err := png.Decode(bytes.NewReader(images[0].PNG)); err != nil {
		t.Fatalf("chart is not a PNG: %v", err)
	}
}

// TestPeoplesTextIsInertMarkdown: what people type and alerts send lands in
// the draft as text, never as Markdown: no image that fetches on opening, no
// link or raw HTML of theirs, no table cell or code block they can end.
func TestPeoplesTextIsInertMarkdown(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(r *rollback.Record)
		steps   []rollback.StepEvent
		absent  []string
		present []string
	}{
		{name: "image and html in the reason",
			edit: func(r *rollback.Record) {
				r.Reason = "see ![x](https://tracker.example/p.png) <img src=x onerror=alert(1)> *now*"
			},
			absent:  []string{"![x](", "<img"},
			present: []string{`!\[x\](https://tracker.example/p.png) \<img src=x onerror=alert(1)\> \*now\*`}},
		{name: "link and pipes in the outcome",
			edit:    func(r *rollback.Record) { r.Outcome = "rejected by U1: [click](https://evil.example) | x" },
			absent:  []string{"[click]("},
			present: []string{`\[click\](https://evil.example) \| x`}},
		{name: "an alert's url that is no web address",
			edit:    func(r *rollback.Record) { r.Trigger.URL, r.Trigger.IncidentID = "javascript:alert(1)", "Q[1]" },
			absent:  []string{"](javascript:"},
			present: []string{`(Q\[1\]: javascript:alert(1))`}},
		{name: "an alert's url that would end its link",
			edit:    func(r *rollback.Record) { r.Trigger.URL = "https://pd.example/i) [evil](https://evil.example" },
			absent:  []string{"](https://evil.example"},
			present: []string{"([Q1ABC](https://pd.example/i%29%20[evil]%28https://evil.example))"}},
		{name: "step output that would close its code block",
			steps: []rollback.StepEvent{{Service: "checkout", StepID: "set-image", Kind: rollback.StepFailed, Attempt: 1, At: t0.Add(4 * time.Minute),
				Output: "done\n```\n# Injected heading\n![x](https://tracker.example/p.png)", Error: "exit status 1"}},
			present: []string{"````\ndone\n```\n# Injected heading"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := seed(t)
			ctx := context.Background()
			r, err := st.GetRollback(ctx, "RB-7")
			if err != nil {
				t.Fatal(err)
			}
			if tc.edit != nil {
				tc.edit(r)
			}
			if len(tc.steps) > 0 {
				if _, err := st.AppendSteps(ctx, "RB-7", 0, tc.steps...); err != nil {
					t.Fatal(err)
				}
			}
			got, err := (&Writer{Store: st, Log: slog.New(slog.DiscardHandler)}).Render(ctx, r)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range tc.absent {
				if live(got, s) {
					t.Errorf("draft holds live %q:\n%s", s, got)
				}
			}
			for _, s := range tc.present {
				if !strings.Contains(got, s) {
					t.Errorf("draft lacks %q:\n%s", s, got)
				}
			}
		})
	}
}

// live reports whether s occurs in md other than right after a backslash,
// which makes its first character literal.
func live(md, s string) bool {
	for i := 0; ; {
		j := strings.Index(md[i:], s)
		if j < 0 {
			return false
		}
		if i+j == 0 || md[i+j-1] != '\\' {
			return true
		}
		i += j + 1
	}
}
