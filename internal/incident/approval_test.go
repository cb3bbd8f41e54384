package incident_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/backout/backout/internal/incident"
	"github.com/backout/backout/internal/rollback"
)

func checkout() incident.ProposeRequest {
	return incident.ProposeRequest{Services: []string{"checkout"}, Reason: "errors up"}
}

func TestQuorumApprovesAndRuns(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, setup{})
		e.deploy("checkout", "1.0.0", "1.1.0")
		r := e.propose(checkout())
		if r.State != rollback.StateProposed || r.Services[0].Target.Version != "1.0.0" {
			t.Fatalf("proposal: state %s, target %s", r.State, r.Services[0].Target.Version)
		}

		e.approve(r.ID, "alice")
		if got := e.get(r.ID).State; got != rollback.StateProposed {
			t.Fatalf("after one approval: %s, want proposed", got)
		}
		e.wantPosted("@alice approved " + r.ID)
		e.wantPosted("Still needed: 1 more approval(s).")
		if n := len(e.ex.Calls()); n != 0 {
			t.Fatalf("executor ran %d time(s) before quorum", n)
		}

		e.approve(r.ID, "bob")
		done := e.finish(r.ID, rollback.StateSucceeded)
		if !slices.Equal(done.Approvers, []string{"alice", "bob"}) {
			t.Errorf("approvers %v, want [alice bob]", done.Approvers)
		}
		if n := len(e.ex.CallsOf("apply")); n != 1 {
			t.Errorf("apply ran %d time(s), want 1", n)
		}
		if len(e.audited("rollback.approved")) != 1 || len(e.audited("rollback.succeeded")) != 1 {
			t.Error("approval and success are not both audited")
		}
	})
}

func TestVoteRefusals(t *testing.T) {
	tests := []struct {
		name, user string
		approve    bool
		want       string // with %s for the rollback id
	}{
		{"self-approval", "req", true, "You proposed %s, so your approval does not count; someone else must approve it. Who may: 2 approval(s) from members of sre-leads; the requester's vote does not count."},
		{"ineligible", "owen", true, "You may not vote on %s. Who may: 2 approval(s) from members of sre-leads; the requester's vote does not count."},
		{"ineligible reject", "dan", false, "You may not vote on %s. Who may: 2 approval(s) from members of sre-leads; the requester's vote does not count; its requester may also reject it."},
	}
	forEachBackend(t, func(t *testing.T, b backend) {
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				e := newEnv(t, b, setup{})
				e.deploy("checkout", "1.0.0", "1.1.0")
				r := e.propose(checkout())
				got := e.vote(tc.user, r.ID, tc.approve)
				if want := fmt.Sprintf(tc.want, r.ID); got != want {
					t.Fatalf("answer\n got %q\nwant %q", got, want)
				}
				votes, err := e.st.ListVotes(e.ctx, r.ID)
				if err != nil {
					t.Fatal(err)
				}
				if len(votes) != 0 || e.get(r.ID).State != rollback.StateProposed {
					t.Fatalf("a refused vote changed something: %d vote(s), state %s", len(votes), e.get(r.ID).State)
				}
			})
		}
	})
}

func TestRoleGateNeedsDBA(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, setup{})
		e.deploy("payments", "3.0.0", "3.1.0")
		r := e.propose(incident.ProposeRequest{Services: []string{"payments"}})
		e.approve(r.ID, "alice", "bob")
		if got := e.get(r.ID).State; got != rollback.StateProposed {
			t.Fatalf("two leads without a DBA: %s, want proposed", got)
		}
		e.wantPosted("Still needed: an approval from dba.")
		e.approve(r.ID, "dan")
		done := e.finish(r.ID, rollback.StateSucceeded)
		if !slices.Contains(done.Approvers, "dan") {
			t.Errorf("approvers %v lack the DBA", done.Approvers)
		}
	})
}

func TestExpiry(t *testing.T) {
	for _, tick := range []bool{true, false} {
		name := map[bool]string{true: "Tick expires it", false: "a late vote expires it"}[tick]
		t.Run(name, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, b backend) {
				e := newEnv(t, b, setup{})
				e.deploy("checkout", "1.0.0", "1.1.0")
				r := e.propose(checkout())
				e.approve(r.ID, "alice")
				e.clock.Advance(31 * time.Minute)
				if tick {
					e.svc.Tick(e.ctx)
					if got := e.get(r.ID).State; got != rollback.StateExpired {
						t.Fatalf("after Tick: %s, want expired", got)
					}
					e.wantPosted(r.ID + " expired at 12:30Z without enough approvals")
				}
				want := r.ID + " expired at 12:30PM without enough approvals; propose again if it is still needed."
				if got := e.vote("bob", r.ID, true); got != want {
					t.Fatalf("late vote:\n got %q\nwant %q", got, want)
				}
				done := e.get(r.ID)
				if done.State != rollback.StateExpired || len(e.ex.Calls()) != 0 {
					t.Fatalf("state %s with %d executor call(s), want expired and none", done.State, len(e.ex.Calls()))
				}
			})
		})
	}
}

func TestRejectionEndsIt(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, setup{})
		e.deploy("checkout", "1.0.0", "1.1.0")
		r := e.propose(checkout())
		e.approve(r.ID, "alice")
		if failure := e.vote("carol", r.ID, false); failure != "" {
			t.Fatalf("reject refused: %s", failure)
		}
		done := e.get(r.ID)
		if done.State != rollback.StateRejected || done.Outcome != "rejected by carol: test" {
			t.Fatalf("after rejection: %s %q", done.State, done.Outcome)
		}
		if got := e.vote("bob", r.ID, true); got != r.ID+" is rejected; votes are closed." {
			t.Fatalf("vote after rejection: %q", got)
		}
		waitEngine(t, e.svc)
		if len(e.ex.Calls()) != 0 {
			t.Fatal("a rejected rollback ran")
		}
	})
}

func TestPlanChangeVoidsVotes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, setup{})
		e.deploy("checkout", "1.0.0", "1.1.0")
		r := e.propose(checkout())
		oldHash := r.PlanHash
		e.approve(r.ID, "alice")

		// CI ships 1.2.0 while the proposal waits: "current" changed.
		if _, failure, err := e.svc.RecordDeploy(e.ctx, person("ci"), incident.DeployInput{
			Service: "checkout", Version: "1.2.0", Artifact: artifact("checkout", "1.2.0")}); err != nil || failure != nil {
			t.Fatalf("deploy: %q %v", failure, err)
		}
		re := e.get(r.ID)
		if re.PlanHash == oldHash || re.Services[0].Current.Version != "1.2.0" || re.Services[0].Target.Version != "1.0.0" {
			t.Fatalf("replan: hash %s (was %s), %s -> %s", re.PlanHash, oldHash, re.Services[0].Current.Version, re.Services[0].Target.Version)
		}
		e.wantPosted("Earlier votes no longer count")

		stale, err := e.svc.Vote(e.ctx, person("carol"), incident.VoteRequest{ID: r.ID, Approve: true, PlanHash: oldHash})
		if err != nil {
			t.Fatal(err)
		}
		if want := "The plan of " + r.ID + " changed since that message was posted, which voids earlier votes. Review the new plan and vote again."; stale.String() != want {
			t.Fatalf("old-plan click:\n got %q\nwant %q", stale, want)
		}

		e.approve(r.ID, "bob") // alice's vote was on the old plan
		if got := e.get(r.ID).State; got != rollback.StateProposed {
			t.Fatalf("bob plus alice's voided vote: %s, want proposed", got)
		}
		if n := len(e.poster.Find("@bob approved " + r.ID)); n != 1 || len(e.poster.Find("Still needed: 1 more approval(s).")) != 2 {
			t.Fatalf("bob's approval should still need one more")
		}
		e.approve(r.ID, "alice") // alice votes again on the new plan
		done := e.finish(r.ID, rollback.StateSucceeded)
		if !slices.Equal(done.Approvers, []string{"bob", "alice"}) {
			t.Errorf("approvers %v, want [bob alice]", done.Approvers)
		}
	})
}

func TestDuplicateClickCountsOnce(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, setup{})
		e.deploy("checkout", "1.0.0", "1.1.0")
		r := e.propose(checkout())
		e.approve(r.ID, "alice")
		if got := e.vote("alice", r.ID, true); got != "You already voted on "+r.ID+"." {
			t.Fatalf("second click: %q", got)
		}
		votes, err := e.st.ListVotes(e.ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(votes) != 1 || e.get(r.ID).State != rollback.StateProposed {
			t.Fatalf("%d vote(s), state %s; want 1 and proposed", len(votes), e.get(r.ID).State)
		}
		if n := len(e.poster.Find("@alice approved")); n != 1 {
			t.Fatalf("the approval was announced %d times", n)
		}
	})
}

// TestFailedProposalsTakeNoID: an id names a stored rollback, so a
// proposal refused at planning must not use one up.
func TestFailedProposalsTakeNoID(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, setup{})
		if _, failure, err := e.svc.Propose(e.ctx, person("req"), incident.ProposeRequest{Services: []string{"checkout"}}); err != nil || failure == nil {
			t.Fatalf("with no deploys, propose = %q, %v; want a failure", failure, err)
		}
		e.deploy("checkout", "1.0.0", "1.1.0")
		if r := e.propose(checkout()); r.ID != "RB-1" {
			t.Fatalf("first stored rollback is %s, want RB-1", r.ID)
		}
	})
}

// TestAuditFailsClosed: with the audit trail unavailable, no action a
// person asks for happens, and each says why.
func TestAuditFailsClosed(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, setup{})
		e.deploy("checkout", "1.0.0", "1.1.0")
		e.deploy("payments", "3.0.0", "3.1.0")
		r := e.propose(checkout())
		e.st.failAudit.Store(true)
		attempts := []struct {
			name string
			act  func() (string, error)
		}{
			{"propose", func() (string, error) {
				_, f, err := e.svc.Propose(e.ctx, person("req"), incident.ProposeRequest{Services: []string{"payments"}})
				return f.String(), err
			}},
			{"approve", func() (string, error) {
				f, err := e.svc.Vote(e.ctx, person("alice"), incident.VoteRequest{ID: r.ID, Approve: true, PlanHash: r.PlanHash})
				return f.String(), err
			}},
			{"abort", func() (string, error) {
				f, err := e.svc.Abort(e.ctx, person("req"), r.ID, "wrong one")
				return f.String(), err
			}},
			{"freeze", func() (string, error) {
				f, err := e.svc.SetFreeze(e.ctx, person("owen"), "payments", "release train")
				return f.String(), err
			}},
			{"deploy", func() (string, error) {
				_, f, err := e.svc.RecordDeploy(e.ctx, person("ci"), incident.DeployInput{Service: "checkout", Version: "1.2.0", Artifact: artifact("checkout", "1.2.0")})
				return f.String(), err
			}},
		}
		for _, a := range attempts {
			if got, err := a.act(); err != nil || got != incident.AuditUnavailable {
				t.Errorf("%s with no audit trail: %q %v, want the audit refusal", a.name, got, err)
			}
		}
		e.st.failAudit.Store(false)
		if got := e.get(r.ID); got.State != rollback.StateProposed {
			t.Errorf("%s is %s: an unaudited action changed it", r.ID, got.State)
		}
		if votes, _ := e.st.ListVotes(e.ctx, r.ID); len(votes) != 0 {
			t.Errorf("unaudited votes stored: %+v", votes)
		}
		if n := len(e.rollbacks("payments")); n != 0 {
			t.Errorf("an unaudited proposal was stored")
		}
		if gate, _, _ := e.svc.PipelineGate(e.ctx, "payments"); !gate.Open {
			t.Errorf("an unaudited freeze closed the gate")
		}
	})
}

// TestBundleNeedsEachServicesOwnPolicy: in a bundle, one service's approvers
// cannot carry another's. backend needs two sre-leads; vault needs one dba.
// Under the old union policy (min 2 from sre-leads or dba), dan of dba and
// alice of sre-leads approved both.
func TestBundleNeedsEachServicesOwnPolicy(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, setup{})
		e.deploy("backend", "1.5.0", "1.6.0") // frontend needs backend >=1.5.0
		e.deploy("vault", "4.0.0", "4.1.0")
		r := e.propose(incident.ProposeRequest{Services: []string{"backend", "vault"}, Reason: "bad pair"})
		if got := r.Policy.Services; len(got) != 2 || got["vault"].Groups[0] != "dba" {
			t.Fatalf("per-service policies %+v", got)
		}
		for _, voter := range []string{"dan", "alice"} {
			if failure := e.vote(voter, r.ID, true); failure != "" {
				t.Fatalf("%s: %s", voter, failure)
			}
		}
		if got := e.get(r.ID); got.State != rollback.StateProposed {
			t.Fatalf("approved by one dba and one sre-lead: %s, want still proposed (backend needs two sre-leads)", got.State)
		}
		e.wantPosted("Still needed: backend: 1 more approval(s)")
		votes, _ := e.st.ListVotes(e.ctx, r.ID)
		for _, v := range votes {
			want := map[string]string{"dan": "vault", "alice": "backend"}[v.User]
			if len(v.Services) != 1 || v.Services[0] != want {
				t.Errorf("%s's vote counts for %v, want [%s]", v.User, v.Services, want)
			}
		}
		if failure := e.vote("bob", r.ID, true); failure != "" {
			t.Fatal(failure)
		}
		if got := e.get(r.ID); got.State == rollback.StateProposed {
			t.Fatalf("each service's policy is met, but %s is still proposed", r.ID)
		}
	})
}
