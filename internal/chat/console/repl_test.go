package console

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/backout/backout/internal/chat"
	"github.com/backout/backout/internal/commands"
	"github.com/backout/backout/internal/rollback"
)

// fakeHandler answers every slash command privately with what it was given.
type fakeHandler struct{}

func (fakeHandler) Command(_ context.Context, inv commands.Invocation) commands.Reply {
	return commands.Reply{Ephemeral: true, Message: chat.TextMessage(chat.Plain("handled " + inv.Text))}
}

func (fakeHandler) Click(context.Context, commands.Click) commands.Reply {
	return commands.Reply{Ignore: true}
}

type fakeBackend struct{}

func (fakeBackend) Alert(context.Context, string) error                  { return nil }
func (fakeBackend) Deploy(context.Context, string, string, string) error { return nil }
func (fakeBackend) Wait(context.Context) error                           { return nil }

// fakeRecords holds the fixture rollback RB-7 (and RB-8, open).
type fakeRecords struct{ open []*rollback.Record }

func (f *fakeRecords) Rollback(_ context.Context, id string) (*rollback.Record, rollback.Words, error) {
	if id != "RB-7" {
		return nil, rollback.Sayf("There is no rollback %s.", id), nil
	}
	r, _, _ := failedRollback()
	return r, nil, nil
}

func (f *fakeRecords) Votes(context.Context, string) ([]rollback.Vote, error) {
	_, votes, _ := failedRollback()
	return votes, nil
}

func (f *fakeRecords) StepLog(context.Context, string) ([]rollback.StepEvent, error) {
	_, _, steps := failedRollback()
	return steps, nil
}

func (f *fakeRecords) OpenRollbacks(context.Context) ([]*rollback.Record, error) { return f.open, nil }

type fakePostmortems struct{}

func (fakePostmortems) Charts(context.Context, string) ([]chat.Image, error) { return nil, nil }

func (fakePostmortems) Get(_ context.Context, id string) (string, error) {
	return "# Post-mortem: " + id + "\n\n## Runbook changes\n_TODO_\n", nil
}

// runREPL drives a REPL over script and returns everything it printed.
func runREPL(t *testing.T, script string, prompt bool) string {
	t.Helper()
	var out bytes.Buffer
	open := []*rollback.Record{{ID: "RB-8", State: rollback.StateRunning,
		Services: []rollback.ServiceChange{{Service: "cart", Current: rollback.Release{Version: "2"}, Target: rollback.Release{Version: "1"}}}}}
	r := &REPL{Handler: fakeHandler{}, Backend: fakeBackend{}, Records: &fakeRecords{open: open}, Postmortems: fakePostmortems{},
		Poster: NewPoster(&out), Channel: "C0DEMO", User: "alice", Echo: !prompt, Prompt: prompt}
	if err := r.Run(context.Background(), strings.NewReader(script)); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

// TestPrompt: at a terminal the console shows who is typing where, and the
// prompt follows `as`; a script gets today's transcript, with no prompt.
func TestPrompt(t *testing.T) {
	got := runREPL(t, "as bob\n/rollback status\n", true)
	want := "Backout console — you are @alice in #C0DEMO. Type `help` for console commands.\n" +
		"alice@#C0DEMO> (you are now @bob)\n" +
		"bob@#C0DEMO> [only @bob] handled status\n" +
		"bob@#C0DEMO> \n"
	if got != want {
		t.Errorf("at a terminal:\n%q\nwant\n%q", got, want)
	}

	got = runREPL(t, "as bob\n/rollback status\n", false)
	want = "Backout console — you are @alice in #C0DEMO. Type `help` for console commands.\n" +
		"alice> as bob\n(you are now @bob)\n" +
		"bob> /rollback status\n[only @bob] handled status\n"
	if got != want {
		t.Errorf("scripted:\n%q\nwant\n%q", got, want)
	}
}

// TestPromptStepsAside: what Backout posts while a person is at the prompt
// (a rollback runs on) starts on its own line and is followed by the prompt
// again; once the line is typed, output is printed as usual.
func TestPromptStepsAside(t *testing.T) {
	var out bytes.Buffer
	p := NewPoster(&out)
	p.Prompt("bob@#C0DEMO> ")
	if _, err := p.Post(context.Background(), chat.Ref{Channel: "C0DEMO"}, chat.TextMessage(chat.Plain("step 2 done"))); err != nil {
		t.Fatal(err)
	}
	p.Say("(a note)")
	p.Typed()
	p.Say("(after the line)")
	want := "bob@#C0DEMO> \n[#C0DEMO] step 2 done\nbob@#C0DEMO> \n(a note)\nbob@#C0DEMO> (after the line)\n"
	if got := out.String(); got != want {
		t.Errorf("got\n%q\nwant\n%q", got, want)
	}
}

func TestShow(t *testing.T) {
	got := runREPL(t, "show rb-7\n", false)
	if !strings.Contains(got, RecordText(failedRollback())) {
		t.Errorf("show rb-7 does not print the record:\n%s", got)
	}
	for script, want := range map[string]string{
		"show RB-99": "There is no rollback RB-99.\nOpen: RB-8 (running, cart 2 → 1). `/rollback history <service>` lists past ones.\n",
		"show 42":    "usage: show <id> (like RB-42)\n",
		"show":       "usage: show <id> (like RB-42)\n",
	} {
		if got := runREPL(t, script, false); !strings.HasSuffix(got, "> "+script+"\n"+want) {
			t.Errorf("%q answered\n%s\nwant\n%s", script, got, want)
		}
	}
}

func TestPostmortem(t *testing.T) {
	got := runREPL(t, "postmortem RB-7\n", false)
	if want := "> postmortem RB-7\n# Post-mortem: RB-7\n\n## Runbook changes\n_TODO_\n"; !strings.HasSuffix(got, want) {
		t.Errorf("the whole text:\n%s\nwant it to end\n%s", got, want)
	}

	dir := t.TempDir()
	for _, c := range []struct{ arg, name string }{
		{"--out " + filepath.Join(dir, "a.md"), filepath.Join(dir, "a.md")},
		{"--out=" + filepath.Join(dir, "b.md"), filepath.Join(dir, "b.md")},
	} {
		arg, name := c.arg, c.name
		got := runREPL(t, "postmortem RB-7 "+arg+"\n", false)
		if want := "Post-mortem of RB-7 written to " + name + " (4 lines).\n"; !strings.HasSuffix(got, want) {
			t.Errorf("%s:\n%s\nwant it to end %q", arg, got, want)
		}
		if b, err := os.ReadFile(name); err != nil || !strings.HasPrefix(string(b), "# Post-mortem: RB-7\n") {
			t.Errorf("%s: file %q, %v", arg, b, err)
		}
	}

	for script, want := range map[string]string{
		"postmortem RB-99":             "There is no rollback RB-99.\nOpen: RB-8 (running, cart 2 → 1). `/rollback history <service>` lists past ones.\n",
		"postmortem":                   "usage: postmortem <id> [--out FILE]\n",
		"postmortem RB-7 --out":        "usage: postmortem <id> [--out FILE]\n",
		"postmortem RB-7 --out=":       "usage: postmortem <id> [--out FILE]\n",
		"postmortem RB-7 out.md":       "usage: postmortem <id> [--out FILE]\n",
		"postmortem nope --out x.md":   "usage: postmortem <id> [--out FILE]\n",
		"postmortem RB-7 --out " + dir: "postmortem RB-7: write post-mortem: open " + dir + ": is a directory\n",
	} {
		if got := runREPL(t, script, false); !strings.HasSuffix(got, "> "+script+"\n"+want) {
			t.Errorf("%q answered\n%s\nwant\n%s", script, got, want)
		}
	}
}

// TestUnknownWords: a line that starts with no console command names the
// command most likely meant, a console one or a /rollback verb.
func TestUnknownWords(t *testing.T) {
	for word, want := range map[string]string{
		"shwo":       "unknown console command \"shwo\"; did you mean `show`? (type help)",
		"postmortme": "unknown console command \"postmortme\"; did you mean `postmortem`? (type help)",
		"clik":       "unknown console command \"clik\"; did you mean `click`? (type help)",
		"/rollbak":   "unknown console command \"/rollbak\"; did you mean `/rollback`? (type help)",
		"rollback":   "unknown console command \"rollback\"; did you mean `/rollback`? (type help)",
		"Status":     "unknown console command \"Status\"; did you mean `/rollback status`?",
		"approve":    "unknown console command \"approve\"; did you mean `/rollback approve`?",
		"porpose":    "unknown console command \"porpose\"; did you mean `/rollback propose`?",
		"deploys":    "unknown console command \"deploys\"; did you mean `/rollback deploys`?",
		"frobnicate": "unknown console command \"frobnicate\"; type help",
		"x":          "unknown console command \"x\"; type help",
	} {
		if got := unknownWord(word); got != want {
			t.Errorf("%q:\n got %s\nwant %s", word, got, want)
		}
	}
	if got := runREPL(t, "shwo RB-7\n", false); !strings.Contains(got, "did you mean `show`?") {
		t.Errorf("the REPL does not answer with it:\n%s", got)
	}
}
