package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestConsoleDemo runs the README's main command on the bundled demo script
// and checks the story it tells, end to end through the real entry point:
// CI deploys, an alert and its proposal, a reject with its reason, a quorum
// of two, steps with live output and a retry, validation against the demo
// HTTP service, the post-mortem, a drill and the registry.
func TestConsoleDemo(t *testing.T) {
	t.Chdir("../..")
	script, err := os.ReadFile("examples/demo.txt")
	if err != nil {
		t.Fatal(err)
	}
	demoDir := t.TempDir()
	var out, errOut bytes.Buffer
	start := time.Now()
	code := run([]string{"console"}, bytes.NewReader(script), &out, &errOut, env("BACKOUT_DEMO_DIR", demoDir))
	took := time.Since(start)
	transcript := out.String()
	if code != exitOK {
		t.Fatalf("exit %d, stderr %q\n%s", code, errOut.String(), transcript)
	}
	// The README promises under a minute; the bound is generous for -race
	// on a busy machine, yet catches a step or check that waits for real.
	if took > 2*time.Minute {
		t.Errorf("the demo took %s", took)
	}
	for _, want := range demoStory {
		if !strings.Contains(transcript, want) {
			t.Errorf("transcript lacks %q", want)
		}
	}
	// Live output: lines the install prints while it runs show under the
	// running step, before `show` prints the whole record. Only the live
	// refresh (every second in the console; the install takes two) puts
	// them in the thread; the retry note shows the failed attempt's output.
	before := transcript[:max(0, strings.Index(transcript, "bob> show RB-2"))]
	if !strings.Contains(before, "digest verified") && !strings.Contains(before, "unpacked demo-api 1.4.0") {
		t.Errorf("no live output of the install before `show RB-2`")
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

// demoStory is what examples/demo.txt must show, beat by beat.
var demoStory = []string{
	"(CI recorded deploy D-4: demo-web 2.1.0",                                       // CI deploys
	"Rollback RB-1 · proposed",                                                      // the alert produced a proposal
	"demo-web: 2.1.0 → 2.0.0",                                                       // to the last known-good release
	"pagerduty alert: High error rate on demo-web",                                  // linked to the page
	"[1] Approve  [2] Reject",                                                       // with buttons
	"👎 @carol rejected RB-1 at ",                                                    // a reject,
	": demo-web only relays the 500s of demo-api 1.5.0; roll back demo-api instead", // with its reason
	"Rollback RB-1 · rejected",
	"Rollback RB-2 · proposed", // a person's proposal
	"Needs 2 approval(s) from members of sre-leads",
	"👍 @alice approved RB-2 at ", // one of two
	"Still needed: 1 more approval(s).",
	"👍 @bob approved RB-2 at ", // the quorum
	"🚀 RB-2 started",
	"🔁 Step “Install the known-good version” (switch) of demo-api failed after ", // a retry,
	"(attempt 1): demo.sh exited with status 75",
	"registry answered 503 Service Unavailable (simulated: the first attempt of RB-2 always fails)", // with its output
	"🔎 Validation of demo-api for RB-2: 2 successful",                                               // checks that really ran
	"measurements  deciding value",                                                                  // each check's tally of measurements beside the one that decided
	"health endpoint answers         Successful  2/2 passed    1/1 URLs passed",
	"reports the known-good version  Successful  2/2 passed    1/1 instances at target  = 1.4.0",
	"Rollback RB-2 · succeeded",
	"Users still affected? Press the button (once per person) until ",                  // the support channel asked,
	"[#C0DEMO ↳ thread] 🆘 2 reports from support that users are still affected, last ", // each person once
	"2 report(s) from support that users are still affected, last ",                    // in the post-mortem too
	"postmortem-RB-2.md",              // the post-mortem in the thread
	"══ Rollback RB-2 · succeeded ══", // show: the whole record
	"3. Install the known-good version (switch, shell) · succeeded · 2 attempts",
	"│ drained traffic from demo-api", // with each step's output
	"│ installed demo-api 1.4.0",
	"@alice approved · counted for sre-leads",
	"@bob approved · counted for sre-leads",
	"/demo-api/healthz answered as expected (2 successful)",
	"phases: ", " · total ",
	"# Post-mortem: Rollback RB-2 — demo-api", // postmortem: the whole text,
	"| demo-api/switch | succeeded | 2 | ",
	"## Runbook changes",     // to its end, which the thread's preview cuts
	"Drill RB-3 · succeeded", // a drill,
	"🔎 Validation of demo-api for RB-3: 2 successful",
	"Drill scorecard for demo-api", // its scorecard
	"↪️ Roll forward: the drill environment is back on 1.4.0.",
	"══ Rollback registry ══", // the registry
	"demo-api  1          0       0        0                       0",
	"demo-web  0          0       0        1                       0",
	"Drills done: 1 (0 failed)",
}

func TestConsoleMistakes(t *testing.T) {
	t.Chdir("../..")
	out := consoleScript(t,
		"/rollback propse demo-api",     // typo: the usage line of the verb meant
		"/rollback approve 42",          // not an id
		"click 9",                       // no such button
		"as",                            // usage
		"deploy demo-api",               // usage
		"frobnicate",                    // unknown console command
		"shwo RB-1",                     // a near miss of one
		"/rollback propose nosuch",      // unknown service
		"/rollback propose demo-apj",    // a near miss of one
		"/rollback propose Demo-API",    // caps: the name meant, never acted on
		"deploy nosuch 1.0",             // the console's own commands list services alike
		"alert demo-apj",                // and suggest the one meant
		"/rollback registry --since 0d", // a duration, but an empty window
		"/rollback status RB-99",        // no such rollback
		"show RB-99",                    // the same, in the console
		"postmortem RB-1 --out",         // usage
		"/rollback abort RB-1",          // a reason is required, and the usage says so
	)
	for _, want := range []string{
		"Unknown command `propse`. Did you mean `propose`?\n" +
			"              Usage: `/rollback propose <service>[,<service>...] [to <version>] [reason...]`\n" +
			"              `/rollback help` lists every command.\n",
		`"42" is not a rollback id`, "there is no button 9", "usage: as <user>",
		"usage: deploy <service> <version>", `unknown console command "frobnicate"; type help`,
		"unknown console command \"shwo\"; did you mean `show`?",
		`Unknown service "nosuch". Known services: `, `Unknown service "demo-apj". Did you mean "demo-api"?`,
		`"Demo-API" is not a service name (service names are lower case). Did you mean "demo-api"?`,
		`deploy failed: Unknown service "nosuch". Known services: cart-api, checkout, demo-api, demo-web, `,
		`alert failed: Unknown service "demo-apj". Did you mean "demo-api"?`,
		`"0d" looks back over nothing; give a duration above zero (examples: 7d, 24h).`,
		"There is no rollback RB-99.\n              No rollback is open; `/rollback history <service>` lists past ones.",
		"alice> show RB-99\nThere is no rollback RB-99.\nNo rollback is open;",
		"usage: postmortem <id> [--out FILE]",
		"An abort needs a reason; it is audited.\n              Usage: `/rollback abort <id> <reason>`\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q\n%s", want, out)
		}
	}
}

// TestConsolePostmortemOut writes a post-mortem to a file through the real
// entry point, and prints where it went.
func TestConsolePostmortemOut(t *testing.T) {
	t.Chdir("../..")
	out := filepath.Join(t.TempDir(), "pm.md")
	input := strings.Join([]string{"deploy demo-api 1.4.0 3h", "deploy demo-api 1.5.0", "alert demo-api", "postmortem rb-1 --out " + out}, "\n")
	var transcript bytes.Buffer
	code := run([]string{"console"}, strings.NewReader(input), &transcript, &transcript, env("BACKOUT_DEMO_DIR", t.TempDir()))
	if code != exitOK {
		t.Fatalf("exit %d\n%s", code, transcript.String())
	}
	if want := "Post-mortem of RB-1 written to " + out; !strings.Contains(transcript.String(), want) {
		t.Errorf("transcript lacks %q\n%s", want, transcript.String())
	}
	if b, err := os.ReadFile(out); err != nil || !strings.HasPrefix(string(b), "# Post-mortem: Rollback RB-1 — demo-api\n") {
		t.Errorf("%s: %q, %v", out, b, err)
	}
}

// TestConsolePostmortemKeepsReasons: a reason typed with a pipe stays whole
// in the post-mortem's timeline table. An unescaped | starts a new cell,
// and Markdown drops the cells beyond the header's, so the reader would see
// only the reason's first part.
func TestConsolePostmortemKeepsReasons(t *testing.T) {
	t.Chdir("../..")
	out := consoleScript(t,
		"deploy demo-api 1.4.0 3h", "deploy demo-api 1.5.0",
		"as carol", "/rollback propose demo-api first try",
		"as alice", "/rollback reject RB-1 tests pass on 1.5 | see CI run 42 | ask bob",
		"as carol", "/rollback propose demo-api 500s | again", // overrides the cooldown RB-1 started
		"as alice", "/rollback reject RB-2 still no",
		"postmortem RB-1", "postmortem RB-2",
	)
	for _, want := range []string{
		` | alice rejected: tests pass on 1.5 \| see CI run 42 \| ask bob |`,
		` | carol overrode thrash-guard: 500s \| again |`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("post-mortem lacks the timeline row ending %q\n%s", want, out)
		}
	}
}

// TestConsoleThrashGuardOverrideShown: a person's reason overrides the thrash
// guard (a cooldown after RB-1) without a word to them; the proposal the
// approvers vote on must say that the guard held it and who overrode it.
func TestConsoleThrashGuardOverrideShown(t *testing.T) {
	t.Chdir("../..")
	out := consoleScript(t,
		"deploy demo-api 1.4.0 3h", "deploy demo-api 1.5.0",
		"as carol", "/rollback propose demo-api first try",
		"as alice", "/rollback reject RB-1 not this one",
		"as carol", "/rollback propose demo-api 500s again",
		"/rollback status RB-2",
	)
	want := "> 500s again\n          ⚠️ Proposed while the thrash guard held it back; @carol overrode the guard (audited)."
	if got := strings.Count(out, strings.TrimPrefix(want, "> 500s again\n          ")); !strings.Contains(out, want) || got != 2 {
		t.Errorf("the proposal and its status should both say the guard was overridden (%d times), want %q\n%s", got, want, out)
	}
}

// TestConsoleRecoveryTimeFromDetection: the thread, the post-mortem and the
// registry measure recovery alike, from when the trouble was detected (the
// alert's time), so none of them says "within the recovery target" while
// another counts the same rollback as over it.
func TestConsoleRecoveryTimeFromDetection(t *testing.T) {
	t.Chdir("../..")
	out := consoleScript(t,
		"deploy demo-api 1.4.0 3h", "deploy demo-api 1.5.0",
		"alert demo-api 10m", // PagerDuty opened the incident 10 minutes ago; demo-api's target is 5m
		"click 1", "as bob", "click 1", "wait",
		"postmortem RB-1", "/rollback registry demo-api",
	)
	// The seconds after 10m are the run's own; only the minutes are fixed.
	for _, want := range []string{
		`Recovered in 10m[0-9.]*s?, over the recovery target of 5m\.`, // the thread
		`Recovered in 10m[0-9.]*s?, 5m[0-9.]*s? over the target\.`,    // the post-mortem
		`Recovery target met 0 of 1 times`,                            // the registry
	} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("output lacks %q", want)
		}
	}
	for _, wrong := range []string{"within the recovery target", "within the target"} {
		if strings.Contains(out, wrong) {
			t.Errorf("output says %q of a rollback detected 10m before it ended, with a 5m target", wrong)
		}
	}
	if t.Failed() {
		t.Logf("transcript:\n%s", out)
	}
}

// TestConfigNotFound: run where there is no config, each command says which
// files it looked for and how to choose one; the console also says where
// the bundled example lives.
func TestConfigNotFound(t *testing.T) {
	example, err := filepath.Abs(filepath.Join("..", "..", "examples", "bot.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(t.TempDir())
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	choose := "Choose one with --config FILE or $BACKOUT_CONFIG."
	cases := []struct {
		args    []string
		getenv  func(string) string
		want    []string
		notWant string
	}{
		{[]string{"console"}, env(), []string{
			"invalid configuration: no config file: looked for bot.yaml and examples/bot.yaml in " + wd + ".\n" + choose + "\n",
			"The bundled example is examples/bot.yaml at the root of the Backout repository: run the console there, or give --config <repository>/examples/bot.yaml.",
			// The test binary, like `go run`, knows the checkout it was built from.
			"This binary was built from a checkout that has one: --config " + example,
		}, ""},
		{[]string{"serve"}, env(), []string{"invalid configuration: no config file: looked for bot.yaml in " + wd + ".\n" + choose + "\n"}, "bundled"},
		{[]string{"audit", "verify"}, env(), []string{"no config file: looked for bot.yaml in " + wd + "."}, "bundled"},
		{[]string{"console", "--config", "nope.yaml"}, env(), []string{"invalid configuration: config file nope.yaml (from --config) does not exist\n"}, ""},
		{[]string{"serve"}, env("BACKOUT_CONFIG", "gone.yaml"), []string{"config file gone.yaml (from $BACKOUT_CONFIG) does not exist"}, ""},
	}
	for _, c := range cases {
		var out, errOut bytes.Buffer
		code := run(c.args, strings.NewReader(""), &out, &errOut, c.getenv)
		if code != exitInvalid {
			t.Errorf("%v: exit %d, want %d", c.args, code, exitInvalid)
		}
		for _, want := range c.want {
			if !strings.Contains(errOut.String(), want) {
				t.Errorf("%v: stderr lacks %q\n%s", c.args, want, errOut.String())
			}
		}
		if c.notWant != "" && strings.Contains(errOut.String(), c.notWant) {
			t.Errorf("%v: stderr has %q\n%s", c.args, c.notWant, errOut.String())
		}
	}
}

// consoleScript runs the console from the repository root on lines, in a
// fresh demo directory, and returns what it printed; it fails the test
// unless the console exits 0.
func consoleScript(t *testing.T, lines ...string) string {
	t.Helper()
	var out bytes.Buffer
	code := run([]string{"console"}, strings.NewReader(strings.Join(lines, "\n")), &out, &out, env("BACKOUT_DEMO_DIR", t.TempDir()))
	if code != exitOK {
		t.Fatalf("exit %d\n%s", code, out.String())
	}
	return out.String()
}

// TestConsoleShowsPeopleTextAsTyped: a person's reason and a service name
// they typed print exactly as typed through the real console, formatting
// characters and all; the console strips nothing from them.
func TestConsoleShowsPeopleTextAsTyped(t *testing.T) {
	t.Chdir("../..")
	reason := "*urgent* _now_ ~x~ `code` > web-*"
	out := consoleScript(t,
		"deploy demo-api 1.4.0 3h", "deploy demo-api 1.5.0",
		"as carol", "/rollback propose demo-api "+reason,
		"/rollback propose web-* again",
		"/rollback status RB-1",
	)
	for _, want := range []string{
		"> " + reason + "\n", // the proposal's Why, quoted, then its status
		`"web-*" is not a service name.`,
		"1.5.0 → 1.4.0 `registry.example.com/demo-api@sha256:", // Backout's own code span, as before
	} {
		if strings.Count(out, want) < 1 {
			t.Errorf("output lacks %q\n%s", want, out)
		}
	}
	if got := strings.Count(out, "> "+reason+"\n"); got != 2 {
		t.Errorf("the reason shows %d times as typed, want 2 (proposal and status)\n%s", got, out)
	}
}

// TestConsoleAlertSaysWhenTheDeployWentOut: the proposal an alert raises
// says when the suspect deploy went out relative to when the alert opened,
// not to now. A deploy made after the alert opened (the suspect window
// reaches past it) was shown as "deployed moments before this alert": the
// approvers read it as the cause.
func TestConsoleAlertSaysWhenTheDeployWentOut(t *testing.T) {
	t.Chdir("../..")
	cases := []struct {
		name       string
		deployAge  string // how long ago 1.5.0 went out
		alertAge   string // how long ago the alert opened
		want, nope string
	}{
		{"deploy after the alert opened", "", "10m",
			`> 1\.5\.0 deployed (9m5\ds|10m) after this alert opened: the alert began before it, so only a person may approve this rollback\n`, "moments before"},
		{"deploy before an alert that opened a while ago", "20m", "10m",
			`> 1\.5\.0 deployed (9m5\ds|10m) before this alert\n`, "ago"},
		{"deploy just before the alert", "", "",
			`> 1\.5\.0 deployed moments before this alert\n`, "after this alert"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := consoleScript(t,
				"deploy demo-api 1.4.0 3h",
				strings.TrimSpace("deploy demo-api 1.5.0 "+c.deployAge),
				strings.TrimSpace("alert demo-api "+c.alertAge),
			)
			why := out[strings.Index(out, "▸ Why"):]
			why = why[:strings.Index(why, "▸ Plan")]
			if !regexp.MustCompile(c.want).MatchString(why) {
				t.Errorf("the proposal's Why lacks %q\n%s", c.want, why)
			}
			if strings.Contains(why, c.nope) {
				t.Errorf("the proposal's Why says %q\n%s", c.nope, why)
			}
		})
	}
}

// TestConsolePauseTwice: pausing a rollback that is paused already says so
// and how to go on, and the list of open rollbacks calls it paused (it said
// "running"). It answered "RB-1 is running; only a running rollback
// can be paused", which contradicts itself and leaves the person unsure
// whether the run holds.
func TestConsolePauseTwice(t *testing.T) {
	t.Chdir("../..")
	var buf bytes.Buffer
	script := strings.Join([]string{
		"deploy api 1.0.0 3h", "deploy api 1.1.0",
		"/rollback propose api errors",
		"as bob", "/rollback approve RB-1",
		"/rollback pause RB-1", "/rollback pause RB-1", "/rollback status",
		"/rollback abort RB-1 done here", "wait",
	}, "\n")
	code := run([]string{"console", "--config", "cmd/bot/testdata/steer/bot.yaml"}, strings.NewReader(script), &buf, &buf, env("BACKOUT_DEMO_DIR", t.TempDir()))
	out := buf.String()
	if code != exitOK {
		t.Fatalf("exit %d\n%s", code, out)
	}
	// Each command with what followed it, up to the next prompt (the
	// thread's posts may come before the private answer).
	answers := strings.Split(out, "bob> ")
	answered := func(cmd, reply string) bool {
		for _, a := range answers {
			if strings.HasPrefix(a, cmd+"\n") && strings.Contains(a, reply) {
				return true
			}
		}
		return false
	}
	for _, c := range []struct{ cmd, reply string }{
		{"/rollback pause RB-1", "[only @bob] RB-1 pauses before its next step.\n"},
		{"/rollback pause RB-1", "[only @bob] RB-1 is paused already; no new step starts until `/rollback resume RB-1`.\n"},
		{"/rollback status", "RB-1  paused  api 1.1.0 → 1.0.0"}, // the list of open ones, too
	} {
		if !answered(c.cmd, c.reply) {
			t.Errorf("%s: no answer %q", c.cmd, c.reply)
		}
	}
	if !strings.Contains(out, "🛑 RB-1 aborted by bob: done here") {
		t.Errorf("RB-1 did not end aborted")
	}
	if strings.Contains(out, "only a running rollback can be paused") {
		t.Errorf("a paused rollback was called running, and not pausable")
	}
	if t.Failed() {
		t.Logf("transcript:\n%s", out)
	}
}

// TestConsoleAnswersAsWritten: small answers that said something other than
// what they meant: "as @bob" made the user "@bob" (prompt "@@bob", a member
// of no group), and an alert with no recent deploy named its window as Go
// prints a duration ("2h0m0s").
func TestConsoleAnswersAsWritten(t *testing.T) {
	t.Chdir("../..")
	cases := []struct {
		name       string
		lines      []string
		want, nope string
	}{
		{"as @user", []string{"as @bob", "/rollback status"}, "(you are now @bob)\nbob> ", "@@bob"},
		{"alert without a deploy", []string{"alert demo-api"},
			"No deploy of demo-api in the last 2h, so Backout is not proposing a rollback", "2h0m0s"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := consoleScript(t, c.lines...)
			if !strings.Contains(out, c.want) {
				t.Errorf("output lacks %q\n%s", c.want, out)
			}
			if strings.Contains(out, c.nope) {
				t.Errorf("output has %q\n%s", c.nope, out)
			}
		})
	}
}

// TestConsoleUnansweredProposalSaysWhenItRuns: a proposal an alert raises
// for a service with auto_execute: when_unanswered says when Backout
// approves it on its own; it said only "expires" (later), so a person who
// left it alone expected nothing to happen. A vote ends the countdown, and
// a person's proposal has none.
func TestConsoleUnansweredProposalSaysWhenItRuns(t *testing.T) {
	t.Chdir("../..")
	out := consoleScript(t,
		"deploy checkout 1.0 5h", "deploy checkout 1.1",
		"alert checkout", // checkout: auto_execute: when_unanswered 15m
		"as bob", "click 1", "/rollback status RB-1",
		"deploy search 1.0 5h", "deploy search 1.1",
		"/rollback propose search slow queries",
	)
	countdown := regexp.MustCompile(`If nobody votes by \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ, Backout approves it on its own \(auto_execute: when_unanswered 15m\)\.`)
	if got := len(countdown.FindAllString(out, -1)); got != 1 {
		t.Errorf("the countdown shows %d times, want once: on the proposal, not after bob's vote\n%s", got, out)
	}
	proposal := out[:strings.Index(out, "bob> click 1")]
	if !countdown.MatchString(proposal) {
		t.Errorf("the alert's proposal does not say when it approves itself\n%s", proposal)
	}
}

// TestConsoleNoAutoApprovalOfALaterDeploy: an alert whose suspect deploy
// went out after the alert began (the suspect window reaches past it) is
// not approved by Backout on its own, whatever auto_execute says: that
// deploy did not start the trouble and may be its fix. checkout's
// when_unanswered countdown is not offered, and no tick approves it.
func TestConsoleNoAutoApprovalOfALaterDeploy(t *testing.T) {
	t.Chdir("../..")
	cases := []struct {
		name, alertAge string
		countdown      bool
	}{
		{"deploy before the alert", "", true},
		{"deploy after the alert began", "10m", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := consoleScript(t,
				"deploy checkout 1.0 5h", "deploy checkout 1.1",
				strings.TrimSpace("alert checkout "+c.alertAge), // checkout: auto_execute: when_unanswered 15m
				"/rollback status RB-1",
			)
			if got := strings.Contains(out, "Backout approves it on its own"); got != c.countdown {
				t.Errorf("countdown offered: %v, want %v\n%s", got, c.countdown, out)
			}
			if !c.countdown && !strings.Contains(out, "so only a person may approve this rollback") {
				t.Errorf("the proposal does not say why it waits for a person\n%s", out)
			}
		})
	}
}

// TestConsoleRefusalsSayWhatHappened: an answer names what the person did,
// not something near it.
//   - A plan hash typed wrong (the plan never changed) was answered "The plan
//     of RB-1 changed since that message was posted, which voids earlier
//     votes": false, and alarming at 3 a.m.
//   - Freezing a frozen service replaced the first freeze's author and
//     reason, and announced it as a new freeze; it now says who froze it,
//     when and why, and leaves that freeze as it is.
//   - Someone who may not end a proposal and typed abort was answered "You
//     may not vote on RB-1", about a vote they never asked for.
func TestConsoleRefusalsSayWhatHappened(t *testing.T) {
	t.Chdir("../..")
	cases := []struct {
		name   string
		script []string
		want   *regexp.Regexp
		nope   string
	}{
		{"approve with a mistyped plan",
			[]string{"deploy demo-api 1.4.0 3h", "deploy demo-api 1.5.0", "/rollback propose demo-api errors",
				"as bob", "/rollback approve RB-1 deadbeef"},
			regexp.MustCompile("deadbeef is not the plan of RB-1: its plan is [0-9a-f]{16}, unchanged since it was proposed. " +
				"Check the hash in the proposal's footer, or approve without one: `/rollback approve RB-1`."),
			"changed since that message"},
		{"freeze twice",
			[]string{"/rollback freeze demo-api bad migration in flight", "as bob", "/rollback freeze demo-api me too"},
			regexp.MustCompile("\\[only @bob\\] demo-api is frozen already, by alice since \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\dZ: bad migration in flight. " +
				"To change the reason, `/rollback unfreeze demo-api` and freeze it again."),
			"froze demo-api: me too"},
		{"abort a proposal without the right",
			[]string{"deploy demo-api 1.4.0 3h", "deploy demo-api 1.5.0", "/rollback propose demo-api errors",
				"as frank", "/rollback abort RB-1 not ours"},
			regexp.MustCompile(regexp.QuoteMeta("[only @frank] You may not abort RB-1: it is a proposal, and ending one is rejecting it. " +
				"Who may: 2 approval(s) from members of sre-leads; the requester's vote does not count; its requester may also withdraw it.\n")),
			"may not vote"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := consoleScript(t, c.script...)
			if !c.want.MatchString(out) {
				t.Errorf("output lacks %q\n%s", c.want, out)
			}
			if strings.Contains(out, c.nope) {
				t.Errorf("output says %q\n%s", c.nope, out)
			}
		})
	}
}
