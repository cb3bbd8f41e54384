// Package authz is the one place that decides who may do what to which
// service. Every command, button, modal and API path asks it, through the
// lifecycle, before acting; a refusal names who may.
//
// Rules come from bot.yaml's `permissions:` (action -> principals), over
// the defaults below. A principal is one of:
//
//	anyone      every person
//	requester   whoever proposed the rollback acted on
//	owners      the service's owners
//	approvers   the people the service's own approval policy names
//	            (its groups, roles and users; its owners too when it names no
//	            group or user): those whose votes count
//	overriders  the groups the service's approval policy lists under
//	            `override:`; when it lists none, its owners and approvers
//	group:NAME  members of a configured group or Slack user group
//
// A rule is met for a bundle of services only when it is met for each of
// them, except for the actions that stop work (abort, pause): stopping a
// rollback is never held back because one service in it is someone else's.
package authz

import (
	"context"
	"fmt"
	"github.com/backout/backout/internal/suggest"
	"maps"
	"slices"
	"strings"

	"github.com/backout/backout/internal/rollback"
)

// Action is something a person asks Backout to do.
type Action string

// The actions, as named in `permissions:`.
const (
	Propose       Action = "propose"
	Approve       Action = "approve"
	Reject        Action = "reject"
	Abort         Action = "abort"
	Pause         Action = "pause"
	Resume        Action = "resume"
	OverrideCheck Action = "override_check"
	OverrideGuard Action = "override_guard"
	Freeze        Action = "freeze"
	Unfreeze      Action = "unfreeze"
	DrillNow      Action = "drill_now"
	SignGate      Action = "sign_gate"
	Replan        Action = "replan"
)

// Actions lists every action, for validation and docs.
var Actions = []Action{Propose, Approve, Reject, Abort, Pause, Resume, OverrideCheck, OverrideGuard, Freeze, Unfreeze, DrillNow, SignGate, Replan}

// Principals.
const (
	Anyone    = "anyone"
	Requester = "requester"
	Owners    = "owners"
	Approvers = "approvers"
	// Overriders follows the approval policy's `override:` groups.
	Overriders = "overriders"
	// GroupPrefix starts a group principal: "group:sre-leads".
	GroupPrefix = "group:"
)

// Defaults are restrictive for what changes more than one rollback (freeze,
// unfreeze, drills, overrides): the service's owners and approvers. Sign-off
// of a mid-run gate is decided by the gate's own group, not here, so its
// default lets the gate decide.
var Defaults = map[Action][]string{
	Propose:       {Anyone},
	Approve:       {Approvers},
	Reject:        {Approvers, Requester},
	Abort:         {Requester, Owners, Approvers},
	Pause:         {Requester, Owners, Approvers},
	Resume:        {Requester, Owners, Approvers},
	OverrideCheck: {Overriders},
	OverrideGuard: {Overriders},
	Freeze:        {Owners, Approvers},
	Unfreeze:      {Owners, Approvers},
	DrillNow:      {Owners, Approvers},
	SignGate:      {Anyone},
	Replan:        {Owners, Approvers},
}

// verbs word each action for a refusal: "You may not <verb> <target>".
var verbs = map[Action]string{
	Propose: "propose a rollback of", Approve: "approve", Reject: "reject", Abort: "abort", Pause: "pause",
	Resume: "resume", OverrideCheck: "override a failing check of", OverrideGuard: "override the thrash guard for",
	Freeze: "freeze", Unfreeze: "unfreeze", DrillNow: "start a drill of", SignGate: "sign a gate of", Replan: "replan",
}

// decidedElsewhere are the actions whose rule `permissions:` cannot set,
// and what decides them instead. A rule written for one would be accepted
// and never asked, so Validate refuses it.
var decidedElsewhere = map[Action]string{
	Approve:  "the approval policy decides whose vote counts: set its groups, roles or users under approvals:",
	Reject:   "the approval policy decides who may reject (and the requester may withdraw): set it under approvals:",
	SignGate: "each gate's own group decides who signs it off: set it in the runbook step's gate:",
	Replan:   "Backout replans open proposals itself when a deploy changes their plan; no person asks for it",
}

// stopping actions are allowed on a bundle when allowed on any service in it.
var stopping = map[Action]bool{Abort: true, Pause: true}

// Directory answers who belongs where. The lifecycle implements it over
// the configuration and the chat's user groups.
type Directory interface {
	// InGroup reports whether user belongs to a configured or chat group.
	InGroup(ctx context.Context, user, group string) (bool, error)
	// Owners lists a service's owners.
	Owners(service string) []string
	// Approver reports whether user may approve for service under the
	// service's own approval policy.
	Approver(ctx context.Context, service, user string) (bool, error)
	// Overrider reports whether user may override for service: a member of
	// its policy's `override:` groups, or, when there are none, an owner or
	// approver.
	Overrider(ctx context.Context, service, user string) (bool, error)
}

// Model holds the rules in force.
type Model struct {
	rules map[Action][]string
}

// New builds a model from `permissions:` over the defaults; Validate the
// config first.
func New(overrides map[string][]string) *Model {
	m := &Model{rules: map[Action][]string{}}
	for a, p := range Defaults {
		m.rules[a] = p
	}
	for a, p := range overrides {
		m.rules[Action(a)] = p
	}
	return m
}

// Problem is one thing wrong in a `permissions:` section, with what it is
// about, so the config can place it at the action's key or the principal's
// item.
type Problem struct {
	Action string
	// Principal is the index of the principal at fault in the action's
	// list, or -1 when the problem is with the action itself.
	Principal int
	Msg       string
}

// Validate checks a `permissions:` section: known actions, known
// principals. groupKnown says whether a group exists. Problems come by
// action name, then list order.
func Validate(perms map[string][]string, groupKnown func(string) bool) []Problem {
	var problems []Problem
	for _, a := range slices.Sorted(maps.Keys(perms)) {
		ps := perms[a]
		add := func(i int, format string, args ...any) {
			problems = append(problems, Problem{Action: a, Principal: i, Msg: fmt.Sprintf(format, args...)})
		}
		if !slices.Contains(Actions, Action(a)) {
			if h := suggest.Hint(a, actionNames()); h != "" {
				add(-1, "permissions: unknown action %q%s", a, h)
			} else {
				add(-1, "permissions: unknown action %q (known: %s)", a, names(Actions))
			}
			continue
		}
		if why, ok := decidedElsewhere[Action(a)]; ok {
			add(-1, "permissions.%s: cannot be set here: %s", a, why)
			continue
		}
		if len(ps) == 0 {
			add(-1, "permissions.%s: names nobody; write [anyone] or a principal", a)
		}
		for i, p := range ps {
			switch {
			case p == Anyone, p == Requester, p == Owners, p == Approvers, p == Overriders:
			case strings.HasPrefix(p, GroupPrefix):
				if g := strings.TrimPrefix(p, GroupPrefix); !groupKnown(g) {
					add(i, "permissions.%s: unknown group %q", a, g)
				}
			default:
				hint := suggest.Hint(p, []string{Anyone, Requester, Owners, Approvers, Overriders})
				if hint == "" {
					hint = " (want anyone, requester, owners, approvers, overriders or group:NAME)"
				}
				add(i, "permissions.%s: unknown principal %q%s", a, p, hint)
			}
		}
	}
	return problems
}

func actionNames() []string {
	out := make([]string, len(Actions))
	for i, a := range Actions {
		out[i] = string(a)
	}
	return out
}

func names(as []Action) string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = string(a)
	}
	return strings.Join(out, ", ")
}

// Subject is what an action is on.
type Subject struct {
	Services  []string
	Requester string // of the rollback acted on; empty for none
	ID        string // the rollback, for messages; empty for none
}

// Decision is the answer: Allowed, or a refusal that says who may.
type Decision struct {
	Allowed bool
	// Refusal is for the person refused: what they may not do and who may,
	// with the configuration keys that say so as code.
	Refusal rollback.Words
}

// Decide answers whether user may take action on subject.
func (m *Model) Decide(ctx context.Context, dir Directory, user string, a Action, s Subject) (Decision, error) {
	rule := m.rules[a]
	if len(s.Services) == 0 {
		s.Services = []string{""}
	}
	var refused []string
	for _, svc := range s.Services {
		ok, err := m.meets(ctx, dir, rule, user, svc, s)
		if err != nil {
			return Decision{}, fmt.Errorf("decide %s on %s: %w", a, svc, err)
		}
		if ok && stopping[a] {
			return Decision{Allowed: true}, nil
		}
		if !ok {
			refused = append(refused, svc)
		}
	}
	if len(refused) == 0 {
		return Decision{Allowed: true}, nil
	}
	return Decision{Refusal: m.refusal(a, rule, refused, s, dir)}, nil
}

// meets reports whether user is one of the rule's principals for service.
func (m *Model) meets(ctx context.Context, dir Directory, rule []string, user, service string, s Subject) (bool, error) {
	for _, p := range rule {
		switch {
		case p == Anyone:
			return true, nil
		case p == Requester:
			if s.Requester != "" && user == s.Requester {
				return true, nil
			}
		case p == Owners:
			if slices.Contains(dir.Owners(service), user) {
				return true, nil
			}
		case p == Approvers:
			if service == "" {
				continue
			}
			ok, err := dir.Approver(ctx, service, user)
			if err != nil || ok {
				return ok, err
			}
		case p == Overriders:
			if service == "" {
				continue
			}
			ok, err := dir.Overrider(ctx, service, user)
			if err != nil || ok {
				return ok, err
			}
		case strings.HasPrefix(p, GroupPrefix):
			ok, err := dir.InGroup(ctx, user, strings.TrimPrefix(p, GroupPrefix))
			if err != nil || ok {
				return ok, err
			}
		}
	}
	return false, nil
}

// refusal says what was refused and who may, in plain words, naming the
// configuration keys as code. It is Words, not chat text: this package
// decides, the lifecycle and chat only pass its words on, so they are
// written here once.
func (m *Model) refusal(a Action, rule []string, refused []string, s Subject, dir Directory) rollback.Words {
	var who []any // parts of rollback.Say, one per principal
	for _, p := range rule {
		switch {
		case p == Requester && s.Requester != "":
			who = append(who, "its requester (@"+s.Requester+")")
		case p == Owners:
			var owners []string
			for _, svc := range refused {
				for _, o := range dir.Owners(svc) {
					if !slices.Contains(owners, "@"+o) {
						owners = append(owners, "@"+o)
					}
				}
			}
			if len(owners) > 0 {
				who = append(who, "the owners ("+strings.Join(owners, ", ")+")")
			}
		case p == Approvers:
			who = append(who, "the approvers of "+strings.Join(refused, ", "))
		case p == Overriders:
			who = append(who, rollback.Say("those the approval policy of "+strings.Join(refused, ", ")+" lets override (its ",
				rollback.Code("override:"), " groups, else its owners and approvers)"))
		case strings.HasPrefix(p, GroupPrefix):
			who = append(who, "members of "+strings.TrimPrefix(p, GroupPrefix))
		}
	}
	what := verbs[a]
	target := strings.Join(refused, ", ")
	if s.ID != "" {
		target = s.ID + " (" + target + ")"
	}
	key := rollback.Code("permissions." + string(a))
	if len(who) == 0 {
		return rollback.Say(fmt.Sprintf("You may not %s %s: nobody is allowed to by ", what, target), key, ".")
	}
	parts := []any{fmt.Sprintf("You may not %s %s. Who may: ", what, target)}
	for i, w := range who {
		if i > 0 {
			parts = append(parts, "; ")
		}
		parts = append(parts, w)
	}
	return rollback.Say(append(parts, " (", key, ").")...)
}
