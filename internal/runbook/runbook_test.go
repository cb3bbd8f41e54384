package runbook_test

import (
	"strings"
	"testing"
	"time"

	"github.com/backout/backout/internal/runbook"
)

// TestParseResolvesTimeouts: loading gives every step and compensation its
// effective timeout, so nothing downstream defaults one.
func TestParseResolvesTimeouts(t *testing.T) {
	src := `name: t
steps:
  - {id: plain, uses: shell, with: {args: [true]}}
  - {id: own, uses: shell, with: {args: [true]}, timeout: 90s}
  - {id: zero, uses: http, with: {url: "http://x"}, timeout: 0}
  - {id: poll, uses: wait, with: {url: "http://x"}}
  - {id: long-poll, uses: wait, with: {url: "http://x"}, timeout: 20m}
  - {id: sign-off, gate: {group: dba, timeout: 2h}}
  - id: undoable
    uses: shell
    with: {args: [true]}
    timeout: 1m
    compensate: {uses: wait, with: {url: "http://x"}}
  - id: undoable-too
    uses: shell
    with: {args: [true]}
    compensate: {uses: http, with: {url: "http://x"}, timeout: 45s}
`
	rb, err := runbook.Parse("rb.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]struct{ step, compensate time.Duration }{
		"plain":        {runbook.DefaultStepTimeout, 0},
		"own":          {90 * time.Second, 0},
		"zero":         {runbook.DefaultStepTimeout, 0},
		"poll":         {runbook.DefaultWaitTimeout, 0},
		"long-poll":    {20 * time.Minute, 0},
		"sign-off":     {runbook.DefaultStepTimeout, 0}, // the gate's own wait is gate.timeout
		"undoable":     {time.Minute, runbook.DefaultWaitTimeout},
		"undoable-too": {runbook.DefaultStepTimeout, 45 * time.Second},
	}
	if len(rb.Steps) != len(want) {
		t.Fatalf("%d steps, want %d", len(rb.Steps), len(want))
	}
	for _, st := range rb.Steps {
		w := want[st.ID]
		if got := st.Timeout.D(); got != w.step {
			t.Errorf("%s: timeout %s, want %s", st.ID, got, w.step)
		}
		if got := st.Action().Timeout.D(); got != w.step {
			t.Errorf("%s: Action().Timeout %s, want %s", st.ID, got, w.step)
		}
		var comp time.Duration
		if st.Compensate != nil {
			comp = st.Compensate.Timeout.D()
		}
		if comp != w.compensate {
			t.Errorf("%s: compensate timeout %s, want %s", st.ID, comp, w.compensate)
		}
	}
	if g := rb.Steps[5].Gate.Timeout.D(); g != 2*time.Hour {
		t.Errorf("gate timeout %s changed", g)
	}
}

// TestParseResolvesTimeoutsDespiteErrors: a runbook with structural errors
// is still resolved, so what lint and readiness see is what would run.
func TestParseResolvesTimeoutsDespiteErrors(t *testing.T) {
	rb, err := runbook.Parse("rb.yaml", []byte("name: t\nsteps:\n  - {id: a, uses: shell, nedds: [b]}\n"))
	if err == nil || rb == nil {
		t.Fatalf("rb %v, err %v", rb, err)
	}
	if got := rb.Steps[0].Timeout.D(); got != runbook.DefaultStepTimeout {
		t.Fatalf("timeout %s", got)
	}
}

func TestDefaultTimeout(t *testing.T) {
	for uses, want := range map[string]time.Duration{"wait": 5 * time.Minute, "shell": 10 * time.Minute, "": 10 * time.Minute} {
		if got := runbook.DefaultTimeout(uses); got != want {
			t.Errorf("DefaultTimeout(%q) = %s, want %s", uses, got, want)
		}
	}
}

// TestLintWithTimeout: a `timeout` in a step's or compensation's `with:`
// is reported once, at the key, naming the step's own key instead; the
// executor does not report it again as unknown.
func TestLintWithTimeout(t *testing.T) {
	src := `name: t
steps:
  - id: roll
    uses: shell
    with:
      args: [true]
      timeout: 5m
    compensate:
      uses: shell
      with: {args: [true], timeout: 1m}
`
	rb, err := runbook.Parse("rb.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	err = runbook.Lint(rb, fakeKinds) // decodes `with:` strictly, as executors do
	want := `rb.yaml:7:7: steps[0] (roll): with.timeout is gone; set the step's own "timeout:" (one timeout per step)` + "\n" +
		`rb.yaml:10:28: steps[0] (roll): compensate: with.timeout is gone; set "timeout:" on compensate itself (one timeout per step)`
	if err == nil || err.Error() != want {
		t.Fatalf("lint:\n%v\nwant:\n%s", err, want)
	}
	if strings.Contains(err.Error(), "unknown key") {
		t.Fatal("reported twice")
	}
}
