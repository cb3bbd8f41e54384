package console

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/backout/backout/internal/commands"
	"github.com/backout/backout/internal/rollback"
)

// show prints the whole record of one rollback.
func (r *REPL) show(ctx context.Context, rest string) {
	id, ok := commands.RollbackID(rest)
	if !ok {
		r.Poster.Say("usage: show <id> (like RB-42)")
		return
	}
	rec, ok := r.find(ctx, id)
	if !ok {
		return
	}
	votes, err := r.Records.Votes(ctx, id)
	if err != nil {
		r.Poster.Say("show %s: %v", id, err)
		return
	}
	steps, err := r.Records.StepLog(ctx, id)
	if err != nil {
		r.Poster.Say("show %s: %v", id, err)
		return
	}
	r.Poster.Say("%s", RecordText(rec, votes, steps))
}

// postmortem prints a rollback's whole post-mortem (the thread shows only its
// first lines), or writes it to a file to edit and file elsewhere.
func (r *REPL) postmortem(ctx context.Context, rest string) {
	const usage = "usage: postmortem <id> [--out FILE]"
	f := strings.Fields(rest)
	var out string
	switch {
	case len(f) == 1:
	case len(f) == 3 && f[1] == "--out":
		out = f[2]
	case len(f) == 2 && strings.HasPrefix(f[1], "--out=") && len(f[1]) > len("--out="):
		out = strings.TrimPrefix(f[1], "--out=")
	default:
		r.Poster.Say(usage)
		return
	}
	id, ok := commands.RollbackID(f[0])
	if !ok {
		r.Poster.Say(usage)
		return
	}
	if _, ok := r.find(ctx, id); !ok {
		return
	}
	text, err := r.Postmortems.Get(ctx, id)
	if err != nil {
		r.Poster.Say("postmortem %s: %v", id, err)
		return
	}
	if out == "" {
		r.Poster.Say("%s", strings.TrimRight(text, "\n"))
		return
	}
	path, err := writeFile(out, text)
	if err != nil {
		r.Poster.Say("postmortem %s: %v", id, err)
		return
	}
	lines := len(strings.Split(strings.TrimRight(text, "\n"), "\n"))
	r.Poster.Say("Post-mortem of %s written to %s (%d lines).", id, path, lines)
	r.writeCharts(ctx, id, filepath.Dir(path))
}

// writeCharts writes the charts a post-mortem links beside it, under the
// names it links them by.
func (r *REPL) writeCharts(ctx context.Context, id, dir string) {
	images, err := r.Postmortems.Charts(ctx, id)
	if err != nil {
		r.Poster.Say("postmortem %s: charts: %v", id, err)
		return
	}
	for _, img := range images {
		path := filepath.Join(dir, filepath.Base(img.Filename))
		if err := os.WriteFile(path, img.PNG, 0o644); err != nil {
			r.Poster.Say("postmortem %s: chart: %v", id, err)
			continue
		}
		r.Poster.Say("Chart %s written to %s.", img.Title, path)
	}
}

// writeFile writes text to name and returns its absolute path, which is what
// a person needs to open it whatever directory the console ran in.
func writeFile(name, text string) (string, error) {
	path, err := filepath.Abs(name)
	if err != nil {
		return "", fmt.Errorf("resolve %s: %w", name, err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		return "", fmt.Errorf("write post-mortem: %w", err)
	}
	return path, nil
}

// find reads a rollback. When there is none by that id it says so with the
// open ones, as `/rollback status` does, since a mistyped id usually meant
// one of them.
func (r *REPL) find(ctx context.Context, id string) (*rollback.Record, bool) {
	rec, failure, err := r.Records.Rollback(ctx, id)
	if err != nil {
		r.Poster.Say("%s: %v", id, err)
		return nil, false
	}
	if failure != nil {
		hint := ""
		if open, err := r.Records.OpenRollbacks(ctx); err == nil {
			hint = commands.OpenHint(open).String()
		}
		r.Poster.Say("%s%s", failure, hint)
		return nil, false
	}
	return rec, true
}
