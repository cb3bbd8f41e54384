package incident

import (
	"context"
	"slices"

	"github.com/backout/backout/internal/authz"
	"github.com/backout/backout/internal/rollback"
	"github.com/backout/backout/internal/runbook"
)

// permits asks the one permission model (internal/authz) on behalf of every
// part, and audits each refusal: a refusal is an event worth a record, and
// the person refused is told who may.
type permits struct {
	base
	model    *authz.Model
	groups   *groups
	runbooks runbook.Set // a runbook's approval policy binds its services too
}

// authorize answers nil when who may take action on the subject, or the
// refusal to show them (privately). err is a fault (a group that cannot be
// resolved): fail closed, nothing is done.
func (p *permits) authorize(ctx context.Context, who Actor, a authz.Action, s authz.Subject) (rollback.Words, error) {
	d, err := p.model.Decide(ctx, p, who.User, a, s)
	if err != nil {
		return nil, err
	}
	if d.Allowed {
		return nil, nil
	}
	p.audit(ctx, who, "authz.refused", s.ID, map[string]string{"action": string(a), "services": joinServices(s.Services)})
	return d.Refusal, nil
}

// on is the subject of an action on a stored rollback.
func on(r *rollback.Record) authz.Subject {
	return authz.Subject{Services: r.ServiceNames(), Requester: r.Requester, ID: r.ID}
}

// onServices is the subject of an action on services, not on a rollback.
func onServices(services ...string) authz.Subject { return authz.Subject{Services: services} }

func joinServices(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += ","
		}
		out += x
	}
	return out
}

// InGroup implements authz.Directory.
func (p *permits) InGroup(ctx context.Context, user, group string) (bool, error) {
	return p.groups.inGroup(ctx, user, group)
}

// Owners implements authz.Directory.
func (p *permits) Owners(service string) []string {
	if svc, ok := p.cfg.ServiceByName(service); ok {
		return svc.Owners
	}
	return nil
}

// Approver implements authz.Directory: user's approval of service counts
// under the service's own policy, its runbook's included (approversOf: its
// owners when the policy names no group or user). A policy that names
// nobody, of a service without owners, makes no one an approver here,
// though votes on it count from anyone.
func (p *permits) Approver(ctx context.Context, service, user string) (bool, error) {
	svc, ok := p.cfg.ServiceByName(service)
	if !ok {
		return false, nil
	}
	own := approversOf(effectivePolicy(p.cfg, p.runbooks, svc, svc.Runbook), svc)
	if len(own.Groups) == 0 && len(own.Users) == 0 && len(own.Roles) == 0 {
		return false, nil
	}
	_, eligible, err := p.groups.eligibleGroups(ctx, own, user)
	return eligible, err
}

// Overrider implements authz.Directory: the policy's `override:` groups
// decide when it lists any; otherwise owners and approvers may.
func (p *permits) Overrider(ctx context.Context, service, user string) (bool, error) {
	svc, ok := p.cfg.ServiceByName(service)
	if !ok {
		return false, nil
	}
	if groups := effectivePolicy(p.cfg, p.runbooks, svc, svc.Runbook).Override; len(groups) > 0 {
		for _, g := range groups {
			if ok, err := p.groups.inGroup(ctx, user, g); err != nil || ok {
				return ok, err
			}
		}
		return false, nil
	}
	if slices.Contains(svc.Owners, user) {
		return true, nil
	}
	return p.Approver(ctx, service, user)
}
