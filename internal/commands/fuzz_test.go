package commands

import (
	"reflect"
	"regexp"
	"testing"
)

var (
	fuzzIDPattern      = regexp.MustCompile(`^RB-\d+$`)
	fuzzServicePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
)

// FuzzParse: whatever a person types after /rollback, Parse answers with
// exactly one of a command, a usage reply or "ignore", never panics, and a
// command it returns is well formed (known verb, canonical id, valid names),
// so handlers need not re-check what the grammar promised.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"", "help", "propose checkout to v1.2 bad deploy", "approve rb-7", "registry --since=7d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		res := Parse(text)
		set := 0
		if res.Command != nil {
			set++
		}
		if !res.Usage.Empty() {
			set++
		}
		if res.Ignore {
			set++
		}
		if set != 1 {
			t.Fatalf("Parse(%q) set %d of Command/Usage/Ignore: %+v", text, set, res)
		}
		if again := Parse(text); !reflect.DeepEqual(again, res) {
			t.Fatalf("Parse(%q) is not deterministic: %+v then %+v", text, res, again)
		}
		if res.Command != nil {
			checkCommand(t, text, res.Command)
		}
	})
}

func checkCommand(t *testing.T, text string, c *Command) {
	t.Helper()
	if _, ok := verbs[c.Verb]; !ok || c.Verb == "help" {
		t.Fatalf("Parse(%q): command with unknown verb %q", text, c.Verb)
	}
	if c.ID != "" && !fuzzIDPattern.MatchString(c.ID) {
		t.Fatalf("Parse(%q): id %q does not match RB-<digits>", text, c.ID)
	}
	for _, s := range c.Services {
		if !fuzzServicePattern.MatchString(s) {
			t.Fatalf("Parse(%q): service %q is not a service name", text, s)
		}
	}
	if c.Release != "" && !fuzzServicePattern.MatchString(c.Release) {
		t.Fatalf("Parse(%q): release %q is not a release name", text, c.Release)
	}
	if c.Verb == "registry" && c.Since <= 0 {
		t.Fatalf("Parse(%q): registry window %v is not positive", text, c.Since)
	}
	switch c.Verb {
	case "approve", "reject", "abort", "resume", "pause", "override":
		if c.ID == "" {
			t.Fatalf("Parse(%q): %s without an id", text, c.Verb)
		}
	case "propose", "plan", "history", "deploys", "readiness", "drill", "freeze", "unfreeze":
		if len(c.Services) == 0 {
			t.Fatalf("Parse(%q): %s without a service", text, c.Verb)
		}
	case "release":
		if c.Release == "" {
			t.Fatalf("Parse(%q): release without a name", text)
		}
	}
}
