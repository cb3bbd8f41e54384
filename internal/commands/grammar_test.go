package commands

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/backout/backout/internal/chat"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

// usage is the reply Parse gives for a problem with a verb's arguments. The
// usage line is spelled out in each case, not read from the verb table, so
// these tests pin what people see.
func usage(problem, line string) string {
	return problem + "\nUsage: `/rollback " + line + "`"
}

// help is the help text, pinned in testdata/help.golden.
func help(t *testing.T) string {
	t.Helper()
	path := filepath.Join("testdata", "help.golden")
	if *update {
		if err := os.WriteFile(path, []byte(Help().String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	return string(b)
}

// unknown is the reply to a word close to no verb: the whole help.
func unknown(t *testing.T, word string) string {
	t.Helper()
	return fmt.Sprintf("Unknown command `%s`.\n%s", word, help(t))
}

// didYouMean is the reply to a near miss: the verb meant and its usage line
// alone, with a pointer to the help.
func didYouMean(word, verb, line string) string {
	return "Unknown command `" + word + "`. Did you mean `" + verb + "`?\nUsage: `/rollback " + line + "`\n`/rollback help` lists every command."
}

const (
	day        = 24 * time.Hour
	notAnID    = "%q is not a rollback id (like RB-42)."
	notService = "%q is not a service name."
	// notLower is the answer to a name in capitals: the name meant, not acted on.
	notLower = "%q is not a service name (service names are lower case). Did you mean %q?"
	nameIt   = "Name the service."
	whichOne = "Which rollback? Give its id, like RB-42."
)

// parseCase expects exactly one of a command or a usage reply (the grammar
// has no input it ignores: chat adapters drop what is not for Backout, such
// as the bot's own mention, before calling Parse).
type parseCase struct {
	text  string
	want  *Command
	usage string
}

func TestParse(t *testing.T) {
	h := help(t)
	cases := []parseCase{
		// Nothing, help and words that are not verbs all answer with help.
		{text: "", usage: h},
		{text: " \t ", usage: h},
		{text: "help", usage: h},
		{text: "HELP", usage: h},
		{text: "help me please", usage: h},
		{text: "frobnicate", usage: unknown(t, "frobnicate")},
		{text: "Rollback checkout", usage: unknown(t, "Rollback")},
		{text: "/rollback status", usage: unknown(t, "/rollback")},
		{text: "<@U0BACKOUT> status", usage: unknown(t, "<@U0BACKOUT>")},
		{text: "<@U0BACKOUT>", usage: unknown(t, "<@U0BACKOUT>")},
		{text: "rb-42", usage: unknown(t, "rb-42")},

		// Verbs are case-insensitive; arguments are not.
		{text: "STATUS", want: &Command{Verb: "status"}},
		{text: "  Status   rb-42  ", want: &Command{Verb: "status", ID: "RB-42"}},
	}
	cases = append(cases, typoCases(t)...)
	cases = append(cases, proposeCases()...)
	cases = append(cases, idCases()...)
	cases = append(cases, serviceCases()...)
	cases = append(cases, registryCases()...)
	for _, c := range cases {
		if (c.want == nil) == (c.usage == "") {
			t.Fatalf("case %q: want exactly one of a command or a usage reply", c.text)
		}
		got := Parse(c.text)
		if !reflect.DeepEqual(got.Command, c.want) || got.Usage.String() != c.usage || got.Ignore {
			t.Errorf("Parse(%q)\n got: %s\nwant: %s", c.text, show(got), show(ParseResult{Command: c.want, Usage: chat.Plain(c.usage)}))
		}
	}
}

func show(r ParseResult) string {
	if r.Command != nil {
		return fmt.Sprintf("command %+v", *r.Command)
	}
	return fmt.Sprintf("usage %q ignore=%v", r.Usage.String(), r.Ignore)
}

// typoCases cover mistyped verbs: each gets the one usage line it most
// likely meant, whatever arguments follow, never the whole help.
func typoCases(t *testing.T) []parseCase {
	const propose = "propose <service>[,<service>...] [to <version>] [reason...]"
	return []parseCase{
		{text: "porpose checkout", usage: didYouMean("porpose", "propose", propose)}, // swapped letters
		{text: "propse checkout to 1.2 bad", usage: didYouMean("propse", "propose", propose)},
		{text: "PROPOSAL checkout", usage: didYouMean("PROPOSAL", "propose", propose)},
		{text: "stauts RB-7", usage: didYouMean("stauts", "status", "status [<id>]")},
		{text: "aprove RB-7", usage: didYouMean("aprove", "approve", "approve <id> [<plan>]")},
		{text: "rejcet RB-7 no", usage: didYouMean("rejcet", "reject", "reject <id> <reason>")},
		{text: "abotr RB-7", usage: didYouMean("abotr", "abort", "abort <id> <reason>")},
		{text: "pln checkout", usage: didYouMean("pln", "plan", "plan <service> [to <version>]")},
		{text: "histroy checkout", usage: didYouMean("histroy", "history", "history <service>")},
		{text: "deploy checkout", usage: didYouMean("deploy", "deploys", "deploys <service>")},
		{text: "regsitry", usage: didYouMean("regsitry", "registry", "registry [<service>] [--since 30d]")},
		{text: "relase storefront", usage: didYouMean("relase", "release", "release <name> [reason...]")},
		{text: "dril checkout now", usage: didYouMean("dril", "drill", "drill <service> [now]")},
		{text: "frezee checkout", usage: didYouMean("frezee", "freeze", "freeze <service> [reason]")},
		{text: "unfrezee checkout", usage: didYouMean("unfrezee", "unfreeze", "unfreeze <service>")},
		{text: "hlep", usage: didYouMean("hlep", "help", "help")},
		// Close to no verb: the whole help, as for any word.
		{text: "rollback checkout", usage: unknown(t, "rollback")},
	}
}

// proposeCases cover the verbs that take services (or a release) and
// "to <version>".
func proposeCases() []parseCase {
	const (
		propose = "propose <service>[,<service>...] [to <version>] [reason...]"
		plan    = "plan <service> [to <version>]"
		release = "release <name> [reason...]"
	)
	return []parseCase{
		{text: "propose", usage: usage("Name the service to roll back.", propose)},
		{text: "propose checkout", want: &Command{Verb: "propose", Services: []string{"checkout"}}},
		{text: "propose checkout,cart", want: &Command{Verb: "propose", Services: []string{"checkout", "cart"}}},
		{text: "propose ,checkout,,cart,", want: &Command{Verb: "propose", Services: []string{"checkout", "cart"}}},
		// A space after the comma ends the service list; the rest is the reason.
		{text: "propose checkout, cart", want: &Command{Verb: "propose", Services: []string{"checkout"}, Reason: "cart"}},
		{text: "propose ,", usage: usage("Name a service.", propose)},
		{text: "propose Checkout", usage: usage(fmt.Sprintf(notLower, "Checkout", "checkout"), propose)},
		{text: "propose checkout,pay_ments", usage: usage(fmt.Sprintf(notService, "pay_ments"), propose)},
		{text: "propose -checkout", usage: usage(fmt.Sprintf(notService, "-checkout"), propose)},
		{text: "propose checkout 5xx after the deploy", want: &Command{Verb: "propose", Services: []string{"checkout"}, Reason: "5xx after the deploy"}},
		{text: "propose checkout to v1.2 bad deploy", want: &Command{Verb: "propose", Services: []string{"checkout"}, Version: "v1.2", Reason: "bad deploy"}},
		{text: "propose checkout,cart TO 2.4.0", want: &Command{Verb: "propose", Services: []string{"checkout", "cart"}, Version: "2.4.0"}},
		{text: "propose checkout to", usage: usage("`to` needs a version.", propose)},

		{text: "plan", usage: usage(nameIt, plan)},
		{text: "plan checkout", want: &Command{Verb: "plan", Services: []string{"checkout"}}},
		{text: "plan checkout,cart to 2.4.0", want: &Command{Verb: "plan", Services: []string{"checkout", "cart"}, Version: "2.4.0"}},
		{text: "plan checkout to", usage: usage("`to` needs a version.", plan)},
		{text: "plan checkout now", usage: usage(`Unexpected "now".`, plan)},
		{text: "plan checkout to 2.4.0 and more", usage: usage(`Unexpected "and more".`, plan)},
		{text: "plan CHECKOUT", usage: usage(fmt.Sprintf(notLower, "CHECKOUT", "checkout"), plan)},

		{text: "release", usage: usage("Name the release.", release)},
		{text: "release storefront", want: &Command{Verb: "release", Release: "storefront"}},
		{text: "release storefront checkout 500s", want: &Command{Verb: "release", Release: "storefront", Reason: "checkout 500s"}},
		{text: "release Storefront", usage: usage(`"Storefront" is not a release name.`, release)},
		{text: "release store,front", usage: usage(`"store,front" is not a release name.`, release)},
	}
}

// idCases cover the verbs that take a rollback id.
func idCases() []parseCase {
	const (
		status   = "status [<id>]"
		approve  = "approve <id> [<plan>]"
		reject   = "reject <id> <reason>"
		abort    = "abort <id> <reason>"
		resume   = "resume <id>"
		pause    = "pause <id>"
		override = "override <id> <check> <reason>"
	)
	return []parseCase{
		{text: "status", want: &Command{Verb: "status"}},
		{text: "status rb-42", want: &Command{Verb: "status", ID: "RB-42"}},
		{text: "status RB-x", usage: usage(fmt.Sprintf(notAnID, "RB-x"), status)},
		{text: "status 42", usage: usage(fmt.Sprintf(notAnID, "42"), status)},
		{text: "status RB-1234567890", usage: usage(fmt.Sprintf(notAnID, "RB-1234567890"), status)},
		{text: "status RB-1 RB-2", usage: usage("Too many arguments.", status)},

		{text: "approve", usage: usage(whichOne, approve)},
		{text: "approve rb-7", want: &Command{Verb: "approve", ID: "RB-7"}},
		{text: "approve RB-123456789", want: &Command{Verb: "approve", ID: "RB-123456789"}},
		{text: "approve RB-x", usage: usage(fmt.Sprintf(notAnID, "RB-x"), approve)},
		{text: "approve RB-7 looks fine", usage: usage("`approve` takes a rollback id and, optionally, the plan hash from its message's footer.", approve)},
		{text: "approve rb-7 9C1E2F3A", want: &Command{Verb: "approve", ID: "RB-7", Plan: "9c1e2f3a"}},
		{text: "resume RB-7", want: &Command{Verb: "resume", ID: "RB-7"}},
		{text: "resume", usage: usage(whichOne, resume)},
		{text: "resume RB-7 now", usage: usage("`resume` takes only a rollback id.", resume)},
		{text: "pause RB-7", want: &Command{Verb: "pause", ID: "RB-7"}},
		{text: "pause RB-", usage: usage(fmt.Sprintf(notAnID, "RB-"), pause)},

		// reject and abort parse without a reason; their handlers ask for one.
		{text: "reject RB-7", want: &Command{Verb: "reject", ID: "RB-7"}},
		{text: "reject RB-7 wrong target version", want: &Command{Verb: "reject", ID: "RB-7", Reason: "wrong target version"}},
		{text: "reject", usage: usage(whichOne, reject)},
		{text: "reject x-7 no", usage: usage(fmt.Sprintf(notAnID, "x-7"), reject)},
		{text: "abort rb-7 smoke tests fail", want: &Command{Verb: "abort", ID: "RB-7", Reason: "smoke tests fail"}},
		{text: "abort", usage: usage(whichOne, abort)},

		{text: "override RB-7 backup-fresh no writes since", want: &Command{Verb: "override", ID: "RB-7", Check: "backup-fresh", Reason: "no writes since"}},
		{text: "override RB-7 backup-fresh", usage: usage("Give the rollback id, the check and a reason (the reason is audited).", override)},
		{text: "override", usage: usage("Give the rollback id, the check and a reason (the reason is audited).", override)},
		{text: "override RB-x backup-fresh because", usage: usage(fmt.Sprintf(notAnID, "RB-x"), override)},
	}
}

// serviceCases cover the verbs that take one service.
func serviceCases() []parseCase {
	const drill = "drill <service> [now]"
	var cases []parseCase
	for _, v := range []string{"history", "deploys", "readiness", "unfreeze"} {
		line := v + " <service>"
		cases = append(cases,
			parseCase{text: v + " checkout", want: &Command{Verb: v, Services: []string{"checkout"}}},
			parseCase{text: v, usage: usage(nameIt, line)},
			parseCase{text: v + " checkout now", usage: usage("`"+v+"` takes only a service name.", line)},
			parseCase{text: v + " checkout,cart", usage: usage(fmt.Sprintf(notService, "checkout,cart"), line)},
		)
	}
	return append(cases, []parseCase{
		{text: "freeze checkout", want: &Command{Verb: "freeze", Services: []string{"checkout"}}},
		{text: "freeze checkout launch day", want: &Command{Verb: "freeze", Services: []string{"checkout"}, Reason: "launch day"}},
		{text: "freeze", usage: usage(nameIt, "freeze <service> [reason]")},
		{text: "freeze Checkout", usage: usage(fmt.Sprintf(notLower, "Checkout", "checkout"), "freeze <service> [reason]")},

		{text: "drill checkout", want: &Command{Verb: "drill", Services: []string{"checkout"}}},
		{text: "drill checkout now", want: &Command{Verb: "drill", Services: []string{"checkout"}, Now: true}},
		{text: "drill checkout NOW", want: &Command{Verb: "drill", Services: []string{"checkout"}, Now: true}},
		{text: "drill", usage: usage("Name the service, and add `now` to run a drill now.", drill)},
		{text: "drill checkout now please", usage: usage("Name the service, and add `now` to run a drill now.", drill)},
		{text: "drill checkout later", usage: usage(`Unexpected "later".`, drill)},
		{text: "drill check_out now", usage: usage(fmt.Sprintf(notService, "check_out"), drill)},
	}...)
}

// registryCases cover registry's optional service and --since window.
func registryCases() []parseCase {
	const registry = "registry [<service>] [--since 30d]"
	notDuration := func(s string) string {
		return usage(fmt.Sprintf("%q is not a duration (examples: 7d, 24h).", s), registry)
	}
	return []parseCase{
		{text: "registry", want: &Command{Verb: "registry", Since: 30 * day}},
		{text: "registry checkout", want: &Command{Verb: "registry", Services: []string{"checkout"}, Since: 30 * day}},
		{text: "registry --since 7d", want: &Command{Verb: "registry", Since: 7 * day}},
		{text: "registry checkout --since 24h", want: &Command{Verb: "registry", Services: []string{"checkout"}, Since: 24 * time.Hour}},
		{text: "registry --since=90d checkout", want: &Command{Verb: "registry", Services: []string{"checkout"}, Since: 90 * day}},
		{text: "registry --since 7d --since 1d", want: &Command{Verb: "registry", Since: day}},
		{text: "registry --since", usage: usage("`--since` needs a duration such as 30d.", registry)},
		{text: "registry --since soon", usage: notDuration("soon")},
		{text: "registry --since 0", usage: usage(`"0" looks back over nothing; give a duration above zero (examples: 7d, 24h).`, registry)},
		{text: "registry --since=0d", usage: usage(`"0d" looks back over nothing; give a duration above zero (examples: 7d, 24h).`, registry)},
		{text: "registry --since=-1d", usage: notDuration("-1d")},
		{text: "registry --since=", usage: notDuration("")},
		{text: "registry checkout cart", usage: usage(`Unexpected "cart".`, registry)},
		{text: "registry Checkout", usage: usage(`"Checkout" is not a service name (service names are lower case). Did you mean "checkout"?`, registry)},
		{text: "registry check_out", usage: usage(`"check_out" is not a service name.`, registry)},
		{text: "registry --until 7d", usage: usage(`Unexpected "--until".`, registry)},
	}
}

// TestVerbTable: every verb but help parses and has a handler, so a verb
// the grammar accepts is never one dispatch cannot run.
func TestVerbTable(t *testing.T) {
	if len(verbs) == 0 {
		t.Fatal("the verb table is empty")
	}
	for name, v := range verbs {
		if v.usage == "" || v.help == "" || v.parse == nil {
			t.Errorf("verb %q lacks usage, help or a parser", name)
		}
		if (v.handle == nil) != (name == "help") {
			t.Errorf("verb %q: handler set = %v; only help has none", name, v.handle != nil)
		}
	}
	if got, want := Usage("reject"), chat.Textf("Usage: %s", chat.Code("/rollback reject <id> <reason>")); !reflect.DeepEqual(got, want) {
		t.Errorf("Usage(reject) = %q, want %q", got, want)
	}
}

// TestArgumentProblemsTypeTheirCode: a problem with a verb's arguments
// names the verb, keyword or flag as code, a typed span, so that Slack
// shows it as code; written into plain text, Slack would show the
// backticks literally (plain text is made inert). Whatever the person
// typed stays plain.
func TestArgumentProblemsTypeTheirCode(t *testing.T) {
	cases := []struct {
		text    string
		problem chat.Text
	}{
		{"approve RB-1 not-a-hash extra", chat.Textf("%s takes a rollback id and, optionally, the plan hash from its message's footer.", chat.Code("approve"))},
		{"resume RB-1 now", chat.Textf("%s takes only a rollback id.", chat.Code("resume"))},
		{"history checkout *now*", chat.Textf("%s takes only a service name.", chat.Code("history"))},
		{"propose checkout to", chat.Textf("%s needs a version.", chat.Code("to"))},
		{"registry --since", chat.Textf("%s needs a duration such as 30d.", chat.Code("--since"))},
		{"drill", chat.Textf("Name the service, and add %s to run a drill now.", chat.Code("now"))},
		{"plan checkout `x`", chat.Plain("Unexpected \"`x`\".")},
	}
	for _, c := range cases {
		verb := strings.Fields(c.text)[0]
		want := c.problem.AddPlain("\n").Add(Usage(verb))
		if got := Parse(c.text).Usage; !reflect.DeepEqual(got, want) {
			t.Errorf("Parse(%q).Usage\n got: %#v\nwant: %#v", c.text, got, want)
		}
	}
}
