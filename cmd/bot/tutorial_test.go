package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// yamlBlock finds the fenced YAML block that follows a line naming file in
// docs/runbooks.md.
var yamlBlock = regexp.MustCompile("(?s)`(/[^`\\s]+)`[^\n]*\n\n```yaml\n(.*?)```")

// TestRunbookTutorial follows docs/runbooks.md as a newcomer does: the
// config and runbook it shows lint, and the console commands it gives plan
// and drill the runbook with the output it promises.
func TestRunbookTutorial(t *testing.T) {
	doc, err := os.ReadFile("../../docs/runbooks.md")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	files := map[string]string{}
	for _, m := range yamlBlock.FindAllSubmatch(doc, -1) {
		files[string(m[1])] = string(m[2])
	}
	for name, rel := range map[string]string{"/tmp/try/bot.yaml": "bot.yaml", "/tmp/try/runbooks/hello.yaml": "runbooks/hello.yaml"} {
		src, ok := files[name]
		if !ok {
			t.Fatalf("docs/runbooks.md has no YAML block for %s (found %v)", name, keys(files))
		}
		path := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg := filepath.Join(dir, "bot.yaml")
	if code, out, errOut := runBot(t, env(), "lint", "--config", cfg); code != exitOK || out != "1 runbooks, 1 services: ok\n" {
		t.Fatalf("step 2, lint: exit %d, %q %q", code, out, errOut)
	}
	tests := []struct {
		step, script string
		want         []string
	}{
		{"3, plan", "deploy hello 1.0.0 3h\ndeploy hello 1.1.0\n/rollback plan hello\n",
			[]string{"Plan (dry run; nothing was proposed or run)", "hello 1.1.0 → 1.0.0", "$ echo 'hi: hello 1.1.0 -> 1.0.0'"}},
		{"4, drill", "deploy hello 1.0.0 3h\ndeploy hello 1.1.0\n/rollback drill hello now\nas bob\nclick 1\nwait\n",
			[]string{"Drill RB-1 · succeeded", "Drill scorecard for hello (dry-run)", "postmortem-RB-1.md"}},
	}
	for _, tt := range tests {
		if !bytes.Contains(doc, []byte(strings.ReplaceAll(tt.script, "\n", `\n`))) {
			t.Errorf("step %s: docs/runbooks.md no longer gives the script %q", tt.step, tt.script)
		}
		var out, errOut bytes.Buffer
		code := run([]string{"console", "--config", cfg}, strings.NewReader(tt.script), &out, &errOut, env("BACKOUT_DEMO_DIR", t.TempDir()))
		if code != exitOK {
			t.Fatalf("step %s: exit %d: %s", tt.step, code, errOut.String())
		}
		for _, w := range tt.want {
			if !strings.Contains(out.String(), w) {
				t.Errorf("step %s: output lacks %q:\n%s", tt.step, w, out.String())
			}
		}
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
