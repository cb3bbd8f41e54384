package incident

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/backout/backout/internal/config"
	"github.com/backout/backout/internal/rollback"
	"github.com/backout/backout/internal/runbook"
	"github.com/backout/backout/internal/store"
)

const groupCacheTTL = 5 * time.Minute

// policyFor combines the approval policies of every service in scope, taking
// the strictest of each setting; a runbook's own approval overrides the
// service's.
func (s *Planner) policyFor(changes []rollback.ServiceChange, drill bool) rollback.Policy {
	var out rollback.Policy
	var expires time.Duration
	for _, c := range changes {
		svc, _ := s.cfg.ServiceByName(c.Service)
		p := effectivePolicy(s.cfg, s.runbooks, svc, c.Runbook)
		own := approversOf(p, svc)
		if len(changes) > 1 {
			if out.Services == nil {
				out.Services = map[string]rollback.Policy{}
			}
			out.Services[c.Service] = own
		}
		out.Min = max(out.Min, own.Min)
		out.Groups = union(out.Groups, own.Groups)
		out.Users = union(out.Users, own.Users)
		out.Roles = union(out.Roles, own.Roles)
		out.ForbidSelf = out.ForbidSelf || own.ForbidSelf
		if e := p.ExpiresAfter.D(); e > 0 && (expires == 0 || e < expires) {
			expires = e
		}
		if drill && svc.Drill != nil && svc.Drill.WaiveApproval {
			out.Waived = true
		}
	}
	if expires == 0 {
		expires = time.Hour
	}
	out.ExpiresAt = s.clock.Now().Add(expires)
	return out
}

// effectivePolicy is the approval policy of svc rolled back with the named
// runbook: the service's, with what the runbook's own approval sets taking
// its place. Vote counting and the "approvers" and "overriders" principals
// all read it here, so a runbook's policy can never bind one and not the
// others.
func effectivePolicy(cfg *config.Config, runbooks runbook.Set, svc *config.Service, runbookName string) config.ApprovalPolicy {
	p := cfg.Policy(svc)
	if rb, ok := runbooks[runbookName]; ok && rb.Approval != nil {
		p = mergeRunbookPolicy(p, *rb.Approval)
	}
	return p
}

// approversOf is whose approval of svc counts under its effective policy
// p: the groups, users and roles p names, and svc's owners when p names no
// group or user (roles only say who must be among the approvals). Vote
// counting and the "approvers" principal both read it.
func approversOf(p config.ApprovalPolicy, svc *config.Service) rollback.Policy {
	own := rollback.Policy{Min: p.Min, Groups: p.Groups, Users: p.Users, Roles: p.Roles, ForbidSelf: p.SelfForbidden()}
	if len(p.Groups) == 0 && len(p.Users) == 0 {
		own.Users = union(own.Users, svc.Owners)
	}
	return own
}

func mergeRunbookPolicy(base, rb config.ApprovalPolicy) config.ApprovalPolicy {
	if rb.Min > 0 {
		base.Min = rb.Min
	}
	if len(rb.Groups) > 0 {
		base.Groups = rb.Groups
	}
	if len(rb.Users) > 0 {
		base.Users = rb.Users
	}
	base.Roles = union(base.Roles, rb.Roles)
	if rb.ForbidSelf != nil {
		base.ForbidSelf = rb.ForbidSelf
	}
	if rb.ExpiresAfter > 0 {
		base.ExpiresAfter = rb.ExpiresAfter
	}
	if len(rb.Override) > 0 {
		base.Override = rb.Override
	}
	return base
}

func union(a, b []string) []string {
	out := slices.Clone(a)
	for _, x := range b {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}

// members resolves a group name (config group or Slack user group ID) to user IDs.
func (s *groups) members(ctx context.Context, group string) ([]string, error) {
	var ids []string
	usergroup := ""
	if g, ok := s.cfg.Groups[group]; ok {
		ids = append(ids, g.Members...)
		usergroup = g.SlackUsergroup
	} else if s.cfg.KnownGroup(group) {
		usergroup = group
	} else {
		return nil, fmt.Errorf("unknown group %q", group)
	}
	if usergroup == "" || s.directory == nil {
		return ids, nil
	}
	s.mu.Lock()
	e, ok := s.cache[usergroup]
	s.mu.Unlock()
	if ok && s.clock.Now().Sub(e.at) < groupCacheTTL {
		return union(ids, e.members), nil
	}
	got, err := s.directory.GroupMembers(ctx, usergroup)
	if err != nil {
		if ok { // stale beats nothing while Slack is unhappy
			return union(ids, e.members), nil
		}
		return ids, fmt.Errorf("resolve user group %s: %w", usergroup, err)
	}
	s.mu.Lock()
	s.cache[usergroup] = groupEntry{members: got, at: s.clock.Now()}
	s.mu.Unlock()
	return union(ids, got), nil
}

// inGroup reports whether user belongs to group.
func (s *groups) inGroup(ctx context.Context, user, group string) (bool, error) {
	ids, err := s.members(ctx, group)
	if err != nil {
		return false, err
	}
	return slices.Contains(ids, user), nil
}

// eligibleFor answers, for a bundle's per-service policies, which services
// user's vote counts for and through which groups; for a single policy, the
// same as eligibleGroups with no services.
func (s *groups) eligibleFor(ctx context.Context, p rollback.Policy, user string) (groups, services []string, eligible bool, err error) {
	if len(p.Services) == 0 {
		groups, eligible, err = s.eligibleGroups(ctx, p, user)
		return groups, nil, eligible, err
	}
	for _, name := range slices.Sorted(maps.Keys(p.Services)) {
		g, ok, err := s.eligibleGroups(ctx, p.Services[name], user)
		if err != nil {
			return nil, nil, false, err
		}
		if ok {
			groups, services = union(groups, g), append(services, name)
		}
	}
	return groups, services, len(services) > 0, nil
}

// eligibleGroups returns the policy groups (and roles) user belongs to, and
// whether the user may vote at all.
func (s *groups) eligibleGroups(ctx context.Context, p rollback.Policy, user string) ([]string, bool, error) {
	var groups []string
	for _, g := range union(p.Groups, p.Roles) {
		ok, err := s.inGroup(ctx, user, g)
		if err != nil {
			return nil, false, err
		}
		if ok {
			groups = append(groups, g)
		}
	}
	eligible := slices.Contains(p.Users, user) || len(groups) > 0
	if len(p.Groups) == 0 && len(p.Users) == 0 && len(p.Roles) == 0 {
		eligible = true
	}
	return groups, eligible, nil
}

// quorum reports whether counted approvals on the current plan satisfy the
// policy, and what is still missing.
func quorum(p rollback.Policy, planHash string, votes []rollback.Vote) (bool, string) {
	if len(p.Services) > 0 {
		return bundleQuorum(p, planHash, votes)
	}
	var count int
	rolesMet := map[string]bool{}
	for _, v := range votes {
		if v.PlanHash != planHash || !v.Approve || !v.Counted {
			continue
		}
		count++
		for _, g := range v.Groups {
			rolesMet[g] = true
		}
	}
	var missing []string
	if count < p.Min {
		missing = append(missing, fmt.Sprintf("%d more approval(s)", p.Min-count))
	}
	for _, r := range p.Roles {
		if !rolesMet[r] {
			missing = append(missing, "an approval from "+r)
		}
	}
	return len(missing) == 0, strings.Join(missing, " and ")
}

// VoteRequest is one approve or reject.
type VoteRequest struct {
	ID       string
	Approve  bool
	Reason   string
	PlanHash string // from the button; empty from a typed command
	// Abort: the person asked to abort a proposal, which ends it as a
	// rejection does; a refusal answers the abort they asked for.
	Abort bool
}

// Vote records a decision. The failure is shown privately to the person.
func (s *Approvals) Vote(ctx context.Context, who Actor, req VoteRequest) (rollback.Words, error) {
	r, err := s.rollbacks.GetRollback(ctx, req.ID)
	if errors.Is(err, store.ErrNotFound) {
		return rollback.Sayf("There is no rollback %s.", req.ID), nil
	}
	if err != nil {
		return nil, err
	}
	if r.State == rollback.StateRunning && req.Approve {
		switch open := openGates(r); len(open) {
		case 0:
		case 1:
			return s.SignGate(ctx, who, r.ID, open[0])
		default:
			return rollback.Sayf("Several gates of %s wait for sign-off (%s): use the button of the one you sign.", r.ID, strings.Join(open, ", ")), nil
		}
	}
	if r.State == rollback.StateExpired {
		// Tick usually expires a proposal before anyone clicks again; the
		// late voter gets the same guidance as one who found it expired.
		return expiredText(r), nil
	}
	if r.State != rollback.StateProposed {
		return rollback.Sayf("%s is %s; votes are closed.", r.ID, r.State), nil
	}
	if req.Approve {
		// An approval may complete the quorum and start the run, which a
		// replica shutting down would leave approved and never started.
		if err := s.engine.refuseWhenStopping(r.ID); err != nil {
			return nil, err
		}
	}
	if req.PlanHash != "" && req.PlanHash != r.PlanHash && r.Replans == 0 {
		// Never replanned: no message ever showed another plan, so the hash
		// was mistyped, and saying the plan changed would be false.
		return rollback.Say(fmt.Sprintf("%s is not the plan of %s: its plan is %s, unchanged since it was proposed. Check the hash in the proposal's footer, or approve without one: ",
			req.PlanHash, r.ID, r.PlanHash), rollback.Code("/rollback approve "+r.ID), "."), nil
	}
	if req.PlanHash != "" && req.PlanHash != r.PlanHash {
		return rollback.Sayf("The plan of %s changed since that message was posted, which voids earlier votes. Review the new plan and vote again.", r.ID), nil
	}
	if now := s.clock.Now(); !r.Policy.ExpiresAt.IsZero() && now.After(r.Policy.ExpiresAt) {
		if _, err := s.expire(ctx, r.ID); err != nil {
			return nil, err
		}
		return expiredText(r), nil
	}
	if req.Approve && r.Policy.ForbidSelf && who.User == r.Requester {
		s.refuseVote(ctx, who, r, req.Approve)
		return rollback.Sayf("You proposed %s, so your approval does not count; someone else must approve it. Who may: %s.", r.ID, r.Policy.Describe()), nil
	}
	groups, services, eligible, err := s.groups.eligibleFor(ctx, r.Policy, who.User)
	if err != nil {
		return nil, err
	}
	if !eligible && !(who.User == r.Requester && !req.Approve) {
		s.refuseVote(ctx, who, r, req.Approve)
		may := r.Policy.Describe()
		switch {
		case req.Abort:
			return rollback.Sayf("You may not abort %s: it is a proposal, and ending one is rejecting it. Who may: %s; its requester may also withdraw it.", r.ID, may), nil
		case !req.Approve:
			may += "; its requester may also reject it"
		}
		return rollback.Sayf("You may not vote on %s. Who may: %s.", r.ID, may), nil
	}
	action := "vote.approve"
	if !req.Approve {
		action = "vote.reject"
	}
	if refusal := s.auditFirst(ctx, who, action, r.ID, map[string]string{"plan_hash": r.PlanHash, "reason": req.Reason}); refusal != nil {
		return refusal, nil
	}
	v := rollback.Vote{RollbackID: r.ID, User: who.User, Approve: req.Approve, Reason: req.Reason, PlanHash: r.PlanHash,
		Groups: groups, Services: services, Counted: eligible, At: s.clock.Now()}
	fresh, err := s.votes.PutVote(ctx, v)
	if err != nil {
		return nil, err
	}
	if !fresh {
		return rollback.Sayf("You already voted on %s.", r.ID), nil
	}
	if !req.Approve {
		return nil, s.reject(ctx, who, r, req.Reason)
	}
	return nil, s.afterApproval(ctx, who, r)
}

// refuseVote audits a vote the approval policy refused, as every other
// refusal is (authz.refused).
func (s *Approvals) refuseVote(ctx context.Context, who Actor, r *rollback.Record, approve bool) {
	action := "approve"
	if !approve {
		action = "reject"
	}
	s.audit(ctx, who, "authz.refused", r.ID, map[string]string{"action": action, "services": joinServices(r.ServiceNames())})
}

// refuseSignOff audits a gate sign-off its gate refused, as every other
// refusal is (authz.refused).
func (s *Approvals) refuseSignOff(ctx context.Context, who Actor, r *rollback.Record, key string) {
	s.audit(ctx, who, "authz.refused", r.ID, map[string]string{"action": "sign_gate", "gate": key, "services": joinServices(r.ServiceNames())})
}

func (s *Approvals) reject(ctx context.Context, who Actor, r *rollback.Record, reason string) error {
	r, err := s.transition(ctx, r.ID, rollback.StateRejected, []rollback.State{rollback.StateProposed}, func(r *rollback.Record) {
		r.Outcome = fmt.Sprintf("rejected by %s: %s", who.User, reason)
	})
	if errors.Is(err, rollback.ErrBadTransition) {
		return nil // someone else decided first
	}
	if err != nil {
		return err
	}
	s.tell(ctx, rollback.Voted{About: rollback.About{Rollback: r}, User: who.User, Detail: reason, At: s.clock.Now()})
	s.finish(ctx, r)
	return nil
}

// afterApproval posts the vote, and when quorum is reached approves and starts.
func (s *Approvals) afterApproval(ctx context.Context, who Actor, r *rollback.Record) error {
	votes, err := s.votes.ListVotes(ctx, r.ID)
	if err != nil {
		return err
	}
	ok, missing := quorum(r.Policy, r.PlanHash, votes)
	s.tell(ctx, rollback.Voted{About: rollback.About{Rollback: r}, User: who.User, Approve: true, Detail: missing, At: s.clock.Now()})
	if !ok {
		s.refresh(ctx, r.ID)
		return nil
	}
	var approvers []string
	for _, v := range votes {
		if v.Approve && v.Counted && v.PlanHash == r.PlanHash {
			approvers = append(approvers, v.User)
		}
	}
	r, err = s.transition(ctx, r.ID, rollback.StateApproved, []rollback.State{rollback.StateProposed}, func(r *rollback.Record) {
		r.Approvers = approvers
	})
	if errors.Is(err, rollback.ErrBadTransition) {
		return nil // another click reached quorum first
	}
	if err != nil {
		return err
	}
	s.metrics.ApprovalLatency(r.DecidedAt.Sub(r.CreatedAt))
	s.audit(ctx, Actor{User: "backout", From: "engine"}, "rollback.approved", r.ID, map[string]string{"approvers": strings.Join(approvers, ",")})
	s.notePagerDuty(ctx, r, fmt.Sprintf("Rollback %s approved by %s.", r.ID, strings.Join(approvers, ", ")))
	return s.engine.start(ctx, r)
}

func expiredText(r *rollback.Record) rollback.Words {
	return rollback.Sayf("%s expired at %s without enough approvals; propose again if it is still needed.", r.ID, r.Policy.ExpiresAt.UTC().Format(time.Kitchen))
}

// expire ends a proposal whose approval window passed.
func (s *Approvals) expire(ctx context.Context, id string) (*rollback.Record, error) {
	r, err := s.transition(ctx, id, rollback.StateExpired, []rollback.State{rollback.StateProposed}, func(r *rollback.Record) {
		r.Outcome = "expired without enough approvals"
	})
	if errors.Is(err, rollback.ErrBadTransition) {
		return r, nil
	}
	if err != nil {
		return nil, err
	}
	s.audit(ctx, Actor{User: "backout", From: "engine"}, "rollback.expired", id, nil)
	s.tell(ctx, rollback.Expired{About: rollback.About{Rollback: r}})
	s.finish(ctx, r)
	return r, nil
}

// gateKey names one gate of one service's step.
func gateKey(service, step string) string { return service + "/" + step }

// openGates lists, sorted, the keys of the gates waiting for sign-off.
func openGates(r *rollback.Record) []string {
	var open []string
	for k, g := range r.Gates {
		if !g.Passed {
			open = append(open, k)
		}
	}
	slices.Sort(open)
	return open
}

// SignGate records a sign-off on a mid-run gate.
func (s *Approvals) SignGate(ctx context.Context, who Actor, id, key string) (rollback.Words, error) {
	r, err := s.rollbacks.GetRollback(ctx, id)
	if err != nil {
		return nil, err
	}
	g, ok := r.Gates[key]
	switch open := openGates(r); {
	case r.State.Terminal():
		// Its gate message still shows the button; a sign-off now would be
		// announced and audited as if it let the run go on.
		return rollback.Sayf("%s is %s; its gate no longer takes sign-off.", id, r.State), nil
	case ok && g.Passed:
		return rollback.Sayf("The gate at %s of %s has passed already.", key, id), nil
	case !ok && len(open) > 0:
		// A button from an older message, or a gate named by hand: say
		// which gates are waiting, not that none is.
		return rollback.Sayf("%s has no gate at %s; waiting for sign-off: %s.", id, key, strings.Join(open, ", ")), nil
	case !ok:
		return rollback.Sayf("No gate of %s is waiting for sign-off.", id), nil
	}
	member, err := s.groups.inGroup(ctx, who.User, g.Group)
	if err != nil {
		return nil, err
	}
	if !member {
		s.refuseSignOff(ctx, who, r, key)
		return rollback.Sayf("The gate at %s needs sign-off from %s; you are not a member.", key, g.Group), nil
	}
	if r.Policy.ForbidSelf && who.User == r.Requester {
		s.refuseSignOff(ctx, who, r, key)
		return rollback.Sayf("You proposed %s, so your sign-off does not count at its gate. Who may: another member of %s.", id, g.Group), nil
	}
	if slices.Contains(g.Signed, who.User) {
		return rollback.Say("You already signed off this gate."), nil
	}
	if refusal := s.auditFirst(ctx, who, "gate.signed", id, map[string]string{"gate": key, "group": g.Group}); refusal != nil {
		return refusal, nil
	}
	_, err = s.update(ctx, id, func(r *rollback.Record) error {
		g := r.Gates[key]
		if !slices.Contains(g.Signed, who.User) {
			g.Signed = append(g.Signed, who.User)
		}
		g.Passed = len(g.Signed) >= max(g.Min, 1)
		r.Gates[key] = g
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.tell(ctx, rollback.GateSigned{About: rollback.About{Rollback: r}, User: who.User, Group: g.Group, Gate: key, At: s.clock.Now()})
	s.engine.wake(id)
	return nil, nil
}

// bundleQuorum needs each service's own policy met by the votes that count
// for that service; what is missing is said per service.
func bundleQuorum(p rollback.Policy, planHash string, votes []rollback.Vote) (bool, string) {
	var missing []string
	for _, name := range slices.Sorted(maps.Keys(p.Services)) {
		var theirs []rollback.Vote
		for _, v := range votes {
			if slices.Contains(v.Services, name) {
				theirs = append(theirs, v)
			}
		}
		if ok, m := quorum(p.Services[name], planHash, theirs); !ok {
			missing = append(missing, name+": "+m)
		}
	}
	return len(missing) == 0, strings.Join(missing, "; ")
}
