package incident

import (
	"context"
	"testing"

	"github.com/backout/backout/internal/config"
	"github.com/backout/backout/internal/rollback"
	"github.com/backout/backout/internal/runbook"
)

// TestApproversPrincipalIsWhoseVoteCounts: the `approvers` principal of
// permissions: and the eligibility of a vote read one policy, so the people
// whose approval counts are exactly the approvers an abort, freeze or
// resume rule means. A policy that names only roles used to split them:
// votes counted the owners (roles say who must be among the approvals, they
// name no approvers), the principal left the owners out.
func TestApproversPrincipalIsWhoseVoteCounts(t *testing.T) {
	cfg, err := config.Parse("bot.yaml", []byte(`
slack: {channel: C-OPS}
groups:
  sre-leads: {members: [alice]}
  dba: {members: [dan]}
approvals:
  default: {min: 1, groups: [sre-leads]}
  roles-only: {min: 2, roles: [dba]}
  users: {min: 1, users: [uma], roles: [dba]}
services:
  - {name: checkout, owners: [owen], runbook: steps}
  - {name: ledger, owners: [owen], runbook: steps, approval: roles-only}
  - {name: vault, owners: [owen], runbook: steps, approval: users}
  - {name: search, owners: [owen], runbook: tagged}
`), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	tagged, err := runbook.Parse("runbooks/tagged.yaml", []byte(`
name: tagged
approval: {roles: [dba]}
steps:
  - {id: apply, uses: noop}
`))
	if err != nil {
		t.Fatal(err)
	}
	b := base{cfg: cfg, clock: SystemClock{}}
	g := &groups{base: b, cache: map[string]groupEntry{}}
	runbooks := runbook.Set{tagged.Name: tagged}
	p := &permits{base: b, groups: g, runbooks: runbooks}
	planner := &Planner{base: b, groups: g, runbooks: runbooks}
	ctx := context.Background()
	for _, service := range []string{"checkout", "ledger", "vault", "search"} {
		svc, _ := cfg.ServiceByName(service)
		change := rollback.ServiceChange{Service: service, Runbook: svc.Runbook}
		other := rollback.ServiceChange{Service: "checkout", Runbook: "steps"}
		if service == other.Service {
			other.Service = "vault"
		}
		policies := map[string]rollback.Policy{
			"alone":     planner.policyFor([]rollback.ServiceChange{change}, false),
			"in bundle": planner.policyFor([]rollback.ServiceChange{change, other}, false),
		}
		for _, user := range []string{"alice", "dan", "owen", "uma", "zed"} {
			approver, err := p.Approver(ctx, service, user)
			if err != nil {
				t.Fatal(err)
			}
			for how, pol := range policies {
				_, services, counts, err := g.eligibleFor(ctx, pol, user)
				if err != nil {
					t.Fatal(err)
				}
				if how == "in bundle" {
					counts = false
					for _, s := range services {
						counts = counts || s == service
					}
				}
				if counts != approver {
					t.Errorf("%s, %s %s: vote counts %v, approvers principal %v", user, service, how, counts, approver)
				}
			}
		}
	}
}
