package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConsoleDemo runs the README's main command on the bundled demo script
// and checks the story it tells, end to end through the real entry point.
func TestConsoleDemo(t *testing.T) {
	t.Chdir("../..")
	script, err := os.ReadFile("examples/demo.txt")
	if err != nil {
		t.Fatal(err)
	}
	demoDir := t.TempDir()
	var out, errOut bytes.Buffer
	code := run([]string{"console"}, bytes.NewReader(script), &out, &errOut, env("BACKOUT_DEMO_DIR", demoDir))
	transcript := out.String()
	if code != exitOK {
		t.Fatalf("exit %d, stderr %q\n%s", code, errOut.String(), transcript)
	}
	for _, want := range []string{
		"Rollback RB-1 · proposed",                // the alert produced a proposal
		"demo-api: 1.5.0 → 1.4.0",                 // to the last known-good release
		"[1] Approve  [2] Reject",                 // with buttons
		"👍 @bob approved RB-1",                    // the vote, in the thread
		"Rollback RB-1 · succeeded",               // the run
		"postmortem-RB-1.md",                      // the post-mortem
		"Rollback RB-2 · proposed",                // a person's proposal
		"Drill RB-3 · succeeded",                  // a drill
		"Drill scorecard for demo-api",            // its scorecard
		"demo-api  1          0       0        0", // the registry
	} {
		if !strings.Contains(transcript, want) {
			t.Errorf("transcript lacks %q", want)
		}
	}
	// The demo's steps really ran, on files in the demo directory only.
	installed, err := os.ReadFile(filepath.Join(demoDir, "demo-api", "installed"))
	if err != nil || !strings.HasPrefix(string(installed), "1.4.0 ") {
		t.Errorf("demo-api installed = %q, %v; want 1.4.0", installed, err)
	}
	if t.Failed() {
		t.Logf("transcript:\n%s", transcript)
	}
}

func TestConsoleMistakes(t *testing.T) {
	t.Chdir("../..")
	input := strings.Join([]string{
		"/rollback propse demo-api", // typo: the usage line of the verb meant
		"/rollback approve 42",      // not an id
		"click 9",                   // no such button
		"as",                        // usage
		"deploy demo-api",           // usage
		"frobnicate",                // unknown console command
		"/rollback propose nosuch",  // unknown service
	}, "\n")
	var out bytes.Buffer
	code := run([]string{"console"}, strings.NewReader(input), &out, &out, env("BACKOUT_DEMO_DIR", t.TempDir()))
	if code != exitOK {
		t.Fatalf("exit %d\n%s", code, out.String())
	}
	for _, want := range []string{
		"Unknown command `propse`. Did you mean `propose`?", `"42" is not a rollback id`, "there is no button 9", "usage: as <user>",
		"usage: deploy <service> <version>", `unknown console command "frobnicate"`, `Unknown service "nosuch"`,
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q\n%s", want, out.String())
		}
	}
}
