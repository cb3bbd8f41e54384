package present

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/backout/backout/internal/rollback"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestHandedOnGolden words each way a replica's shutdown can leave a
// rollback: what the thread reads must match what the record says happens
// next (ResumeDue), and never offer an unconditional Resume when a step's
// outcome is unknown.
func TestHandedOnGolden(t *testing.T) {
	on := func(edit func(r *rollback.Record)) rollback.About {
		r := &rollback.Record{ID: "RB-7", State: rollback.StateInterrupted, Channel: "C1", MessageTS: "1.2"}
		if edit != nil {
			edit(r)
		}
		return rollback.About{Rollback: r}
	}
	due := func(r *rollback.Record) { r.ResumeDue = true }
	base := rollback.HandedOn{Replica: "backout-7f9c-1", Signal: "SIGTERM", Grace: 10 * time.Minute, MaxAuto: 2}
	with := func(about rollback.About, edit func(n *rollback.HandedOn)) rollback.HandedOn {
		n := base
		n.About = about
		edit(&n)
		return n
	}
	cases := []struct {
		name   string
		notice rollback.HandedOn
	}{
		{"non-idempotent step finished, resumes on its own", with(on(due), func(n *rollback.HandedOn) { n.Finished = []string{"db/migrate-db"} })},
		{"idempotent step interrupted, resumes on its own", with(on(due), func(n *rollback.HandedOn) { n.Rerun = []string{"api/restart-pods"} })},
		{"finished and interrupted", with(on(due), func(n *rollback.HandedOn) {
			n.Finished, n.Rerun = []string{"db/migrate-db"}, []string{"api/restart-pods"}
		})},
		{"grace ran out", with(on(nil), func(n *rollback.HandedOn) { n.Unknown = []string{"db/migrate-db"} })},
		{"step failed during the grace", with(on(nil), func(n *rollback.HandedOn) { n.Failed = []string{"db/migrate-db"} })},
		{"auto_resume never", with(on(nil), func(n *rollback.HandedOn) { n.Finished = []string{"db/migrate-db"} })},
		{"paused", with(on(func(r *rollback.Record) { r.Paused = true }), func(n *rollback.HandedOn) {})},
		{"out of automatic resumes", with(on(func(r *rollback.Record) { r.AutoResumes = 2 }), func(n *rollback.HandedOn) {})},
		{"signal unknown, nothing running", with(on(due), func(n *rollback.HandedOn) { n.Signal = "" })},
	}
	var got strings.Builder
	for _, c := range cases {
		msg, ok := Notice(c.notice)
		if !ok {
			t.Fatalf("%s: HandedOn has no wording", c.name)
		}
		text := msg.Text.String()
		if strings.Contains(strings.ToLower(text), "safe to resume") {
			t.Errorf("%s: says %q", c.name, text)
		}
		got.WriteString("## " + c.name + "\n" + text + "\n\n")
	}
	path := filepath.Join("testdata", "handed-on.golden")
	if *update {
		if err := os.WriteFile(path, []byte(got.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s (run go test ./internal/present -update to create): %v", path, err)
	}
	if got.String() != string(want) {
		t.Errorf("%s differs; run with -update after checking the change\n--- got\n%s", path, got.String())
	}
}
