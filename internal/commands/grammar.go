// Package commands is the `/rollback` grammar and dispatch that every chat
// adapter drives, both read from one verb table. Parse answers with a
// command, a usage reply or "ignore", in the manner of Atlantis' comment
// parser.
package commands

import (
	"context"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/backout/backout/internal/chat"
	"github.com/backout/backout/internal/incident"
	"github.com/backout/backout/internal/suggest"
	"github.com/backout/backout/internal/yamlx"
)

// Command is a parsed `/rollback` invocation.
type Command struct {
	Verb     string
	Services []string      // propose, plan, history, deploys, readiness, drill, freeze, unfreeze, registry
	Release  string        // release
	Version  string        // "to <version>"
	ID       string        // RB-42
	Check    string        // override
	Reason   string        // free text
	Plan     string        // approve: the plan hash the person saw
	Since    time.Duration // registry --since
	Now      bool          // drill now
}

// Service is the first service named.
func (c Command) Service() string {
	if len(c.Services) == 0 {
		return ""
	}
	return c.Services[0]
}

// ParseResult is exactly one of: a command, a usage reply, or ignore.
type ParseResult struct {
	Command *Command
	Usage   chat.Text
	Ignore  bool
}

// verb is one row of the verb table: how the verb parses, how help shows it
// and what runs it. One table, so the grammar, the help text and dispatch
// cannot disagree about which verbs exist.
type verb struct {
	usage string
	help  string
	parse func(args []string) (*Command, chat.Text)
	// handle runs a parsed command; nil for help, which Parse answers itself.
	handle func(d *Dispatcher, ctx context.Context, who incident.Actor, cmd *Command) (Reply, error)
}

var (
	idPattern      = regexp.MustCompile(`^(?i)rb-\d{1,9}$`)
	servicePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
)

// verbs is the verb table, keyed by verb.
var verbs map[string]verb

// init fills the table, not its declaration, because handlers such as reject
// quote their own usage line: Usage reads the table, and Go refuses a
// package variable whose initializer refers back to itself.
func init() {
	verbs = map[string]verb{
		"help":      {"help", "show this help", parseNone("help"), nil},
		"propose":   {"propose <service>[,<service>...] [to <version>] [reason...]", "propose a rollback", parsePropose, (*Dispatcher).propose},
		"release":   {"release <name> [reason...]", "propose rolling back a whole release (its services in dependency order)", parseRelease, (*Dispatcher).propose},
		"plan":      {"plan <service> [to <version>]", "show what a rollback would do, without proposing it", parsePlan, (*Dispatcher).plan},
		"status":    {"status [<id>]", "show one rollback, or the open ones", parseStatus, (*Dispatcher).status},
		"approve":   {"approve <id> [<plan>]", "approve a proposal (or sign off an open gate); <plan> binds the vote to the plan you saw", parseApprove, (*Dispatcher).approve},
		"reject":    {"reject <id> <reason>", "reject a proposal", parseID("reject", true), (*Dispatcher).reject},
		"abort":     {"abort <id> <reason>", "stop a running rollback", parseID("abort", true), (*Dispatcher).abort},
		"resume":    {"resume <id>", "resume an interrupted or paused rollback", parseID("resume", false), (*Dispatcher).resume},
		"pause":     {"pause <id>", "pause a running rollback between steps", parseID("pause", false), (*Dispatcher).pause},
		"affected":  {"affected <id>", "tell, from support, that users are still affected after a rollback (once each, within the support window)", parseID("affected", false), (*Dispatcher).affected},
		"override":  {"override <id> <check> <reason>", "set aside a failing blocking check, with a reason", parseOverride, (*Dispatcher).override},
		"history":   {"history <service>", "past rollbacks of a service", parseService("history", false), (*Dispatcher).history},
		"deploys":   {"deploys <service>", "recent deploys of a service", parseService("deploys", false), (*Dispatcher).deploys},
		"registry":  {"registry [<service>] [--since 30d]", "rollback registry and numbers", parseRegistry, (*Dispatcher).registry},
		"readiness": {"readiness <service>", "run readiness checks now", parseService("readiness", false), (*Dispatcher).readiness},
		"drill":     {"drill <service> [now]", "show a service's drill schedule, or run a drill now", parseDrill, (*Dispatcher).drill},
		"freeze":    {"freeze <service> [reason]", "hold deploys of a service (the pipeline gate closes)", parseService("freeze", true), (*Dispatcher).freeze},
		"unfreeze":  {"unfreeze <service>", "open the pipeline gate again", parseService("unfreeze", false), (*Dispatcher).unfreeze},
	}
}

// Parse reads the text after the slash command.
func Parse(text string) ParseResult {
	fields := strings.Fields(text)
	if len(fields) == 0 {
		return ParseResult{Usage: Help()}
	}
	verb := strings.ToLower(fields[0])
	spec, ok := verbs[verb]
	if !ok {
		return ParseResult{Usage: unknownVerb(fields[0])}
	}
	if verb == "help" {
		return ParseResult{Usage: Help()}
	}
	cmd, problem := spec.parse(fields[1:])
	if !problem.Empty() {
		return ParseResult{Usage: problem.AddPlain("\n").Add(Usage(verb))}
	}
	cmd.Verb = verb
	return ParseResult{Command: cmd}
}

// unknownVerb answers a word that is not a verb. A near miss ("porpose")
// gets the usage line of the verb it most likely meant rather than the whole
// help: the person knows what they wanted and needs only its arguments. A
// word close to no verb gets the help, which is what that person needs.
func unknownVerb(word string) chat.Text {
	near := suggest.Closest(strings.ToLower(word), Verbs())
	if near == "" {
		return chat.Textf("Unknown command %s.\n%s", chat.Code(word), Help())
	}
	return chat.Textf("Unknown command %s. Did you mean %s?\n%s\n%s lists every command.", chat.Code(word), chat.Code(near), Usage(near), chat.Code("/rollback help"))
}

// Verbs lists the verbs, sorted.
func Verbs() []string {
	names := make([]string, 0, len(verbs))
	for n := range verbs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Help lists every verb with its usage.
func Help() chat.Text {
	t := chat.Plain("Usage: /rollback <command>")
	for _, n := range Verbs() {
		t = t.Add(chat.Textf("\n• %s — %s", chat.Code("/rollback "+verbs[n].usage), verbs[n].help))
	}
	return t
}

// Usage returns the usage line of a verb.
func Usage(verb string) chat.Text {
	return chat.Textf("Usage: %s", chat.Code("/rollback "+verbs[verb].usage))
}

func parseNone(verb string) func([]string) (*Command, chat.Text) {
	return func(args []string) (*Command, chat.Text) {
		if len(args) > 0 {
			return nil, chat.Textf("%s takes no arguments.", chat.Code(verb))
		}
		return &Command{}, nil
	}
}

func parseServices(arg string) ([]string, chat.Text) {
	var out []string
	for _, s := range strings.Split(arg, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if problem := badService(s); !problem.Empty() {
			return nil, problem
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		return nil, chat.Plain("Name a service.")
	}
	return out, nil
}

// parseTo reads an optional "to <version>" and returns the rest.
func parseTo(args []string) (version string, rest []string, problem chat.Text) {
	if len(args) > 0 && strings.EqualFold(args[0], "to") {
		if len(args) < 2 {
			return "", nil, chat.Textf("%s needs a version.", chat.Code("to"))
		}
		return args[1], args[2:], nil
	}
	return "", args, nil
}

func parsePropose(args []string) (*Command, chat.Text) {
	if len(args) == 0 {
		return nil, chat.Plain("Name the service to roll back.")
	}
	svcs, problem := parseServices(args[0])
	if !problem.Empty() {
		return nil, problem
	}
	v, rest, problem := parseTo(args[1:])
	if !problem.Empty() {
		return nil, problem
	}
	return &Command{Services: svcs, Version: v, Reason: strings.Join(rest, " ")}, nil
}

func parseRelease(args []string) (*Command, chat.Text) {
	if len(args) == 0 {
		return nil, chat.Plain("Name the release.")
	}
	if !servicePattern.MatchString(args[0]) {
		return nil, chat.Textf("%q is not a release name.", args[0])
	}
	return &Command{Release: args[0], Reason: strings.Join(args[1:], " ")}, nil
}

func parsePlan(args []string) (*Command, chat.Text) {
	if len(args) == 0 {
		return nil, chat.Plain("Name the service.")
	}
	svcs, problem := parseServices(args[0])
	if !problem.Empty() {
		return nil, problem
	}
	v, rest, problem := parseTo(args[1:])
	if !problem.Empty() {
		return nil, problem
	}
	if len(rest) > 0 {
		return nil, chat.Textf("Unexpected %q.", strings.Join(rest, " "))
	}
	return &Command{Services: svcs, Version: v}, nil
}

func parseStatus(args []string) (*Command, chat.Text) {
	switch len(args) {
	case 0:
		return &Command{}, nil
	case 1:
		if problem := badID(args[0]); !problem.Empty() {
			return nil, problem
		}
		return &Command{ID: strings.ToUpper(args[0])}, nil
	}
	return nil, chat.Plain("Too many arguments.")
}

func parseID(verb string, reason bool) func([]string) (*Command, chat.Text) {
	return func(args []string) (*Command, chat.Text) {
		if len(args) == 0 {
			return nil, chat.Plain("Which rollback? Give its id, like RB-42.")
		}
		if problem := badID(args[0]); !problem.Empty() {
			return nil, problem
		}
		if !reason && len(args) > 1 {
			return nil, chat.Textf("%s takes only a rollback id.", chat.Code(verb))
		}
		return &Command{ID: strings.ToUpper(args[0]), Reason: strings.Join(args[1:], " ")}, nil
	}
}

// planPattern is a plan hash as the proposal's footer shows it.
var planPattern = regexp.MustCompile(`^[0-9a-f]{6,64}$`)

func parseApprove(args []string) (*Command, chat.Text) {
	if len(args) == 0 {
		return nil, chat.Plain("Which rollback? Give its id, like RB-42.")
	}
	if problem := badID(args[0]); !problem.Empty() {
		return nil, problem
	}
	cmd := &Command{ID: strings.ToUpper(args[0])}
	switch {
	case len(args) == 2 && planPattern.MatchString(strings.ToLower(args[1])):
		cmd.Plan = strings.ToLower(args[1])
	case len(args) > 1:
		return nil, chat.Textf("%s takes a rollback id and, optionally, the plan hash from its message's footer.", chat.Code("approve"))
	}
	return cmd, nil
}

func parseOverride(args []string) (*Command, chat.Text) {
	if len(args) < 3 {
		return nil, chat.Plain("Give the rollback id, the check and a reason (the reason is audited).")
	}
	if problem := badID(args[0]); !problem.Empty() {
		return nil, problem
	}
	return &Command{ID: strings.ToUpper(args[0]), Check: args[1], Reason: strings.Join(args[2:], " ")}, nil
}

func parseService(verb string, reason bool) func([]string) (*Command, chat.Text) {
	return func(args []string) (*Command, chat.Text) {
		if len(args) == 0 {
			return nil, chat.Plain("Name the service.")
		}
		if problem := badService(args[0]); !problem.Empty() {
			return nil, problem
		}
		if !reason && len(args) > 1 {
			return nil, chat.Textf("%s takes only a service name.", chat.Code(verb))
		}
		return &Command{Services: []string{args[0]}, Reason: strings.Join(args[1:], " ")}, nil
	}
}

func parseRegistry(args []string) (*Command, chat.Text) {
	cmd := &Command{Since: 30 * 24 * time.Hour}
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--since":
			if i+1 >= len(args) {
				return nil, chat.Textf("%s needs a duration such as 30d.", chat.Code("--since"))
			}
			i++
			d, problem := sinceWindow(args[i])
			if !problem.Empty() {
				return nil, problem
			}
			cmd.Since = d
		case strings.HasPrefix(a, "--since="):
			d, problem := sinceWindow(strings.TrimPrefix(a, "--since="))
			if !problem.Empty() {
				return nil, problem
			}
			cmd.Since = d
		case len(cmd.Services) == 0 && servicePattern.MatchString(a):
			cmd.Services = []string{a}
		case len(cmd.Services) == 0 && !strings.HasPrefix(a, "-"):
			return nil, badService(a) // "Checkout": say which name was meant
		default:
			return nil, chat.Textf("Unexpected %q.", a)
		}
	}
	return cmd, nil
}

func parseDrill(args []string) (*Command, chat.Text) {
	if len(args) == 0 || len(args) > 2 {
		return nil, chat.Textf("Name the service, and add %s to run a drill now.", chat.Code("now"))
	}
	if problem := badService(args[0]); !problem.Empty() {
		return nil, problem
	}
	cmd := &Command{Services: []string{args[0]}}
	if len(args) == 2 {
		if !strings.EqualFold(args[1], "now") {
			return nil, chat.Textf("Unexpected %q.", args[1])
		}
		cmd.Now = true
	}
	return cmd, nil
}

// RollbackID reads a rollback id as people type it ("rb-42" is RB-42), for
// front ends with commands of their own that take one (the console's show).
func RollbackID(arg string) (string, bool) {
	if !badID(arg).Empty() {
		return "", false
	}
	return strings.ToUpper(arg), true
}

// badID explains why arg is not a rollback id, or returns "".
func badID(arg string) chat.Text {
	if idPattern.MatchString(arg) {
		return nil
	}
	return chat.Textf("%q is not a rollback id (like RB-42).", arg)
}

// sinceWindow reads registry's --since: a duration above zero. "0d" is a
// duration, so it is not called "not a duration": it looks back over nothing.
func sinceWindow(arg string) (time.Duration, chat.Text) {
	d, err := yamlx.ParseDuration(arg)
	switch {
	case err != nil:
		return 0, chat.Textf("%q is not a duration (examples: 7d, 24h).", arg)
	case d <= 0:
		return 0, chat.Textf("%q looks back over nothing; give a duration above zero (examples: 7d, 24h).", arg)
	}
	return d, nil
}

// badService explains why arg is not a service name, or returns "".
func badService(arg string) chat.Text {
	if servicePattern.MatchString(arg) {
		return nil
	}
	if lower := strings.ToLower(arg); servicePattern.MatchString(lower) {
		// Caps lock, or a name as a dashboard writes it: the catalog's names
		// are lower case (config refuses others), so say which was meant
		// rather than act on a name the person did not type.
		return chat.Textf("%q is not a service name (service names are lower case). Did you mean %q?", arg, lower)
	}
	return chat.Textf("%q is not a service name.", arg)
}
