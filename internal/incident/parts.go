package incident

import (
	"context"
	"time"

	"sync"

	"github.com/backout/backout/internal/rollback"

	"github.com/backout/backout/internal/check"
	"github.com/backout/backout/internal/exec"
	"github.com/backout/backout/internal/runbook"
	"github.com/backout/backout/internal/store"
)

// The narrow store interfaces the parts hold. Each names only what its
// holder reads or writes.
type (
	// rollbackLister finds rollbacks (open ones, a service's recent ones).
	rollbackLister interface {
		ListRollbacks(ctx context.Context, q store.RollbackQuery) ([]*rollback.Record, error)
	}
	// proposalStore creates rollback records, claiming alert keys so that
	// a storm of alerts makes one proposal.
	proposalStore interface {
		store.Rollbacks
		store.Claims
	}
	// viewStore is what rendering the main message reads.
	viewStore interface {
		store.Votes
		store.Steps
	}
	// freezeStore keeps freezes (blobs of kind "freeze").
	freezeStore interface {
		PutBlob(ctx context.Context, kind, key string, value []byte) error
		GetBlob(ctx context.Context, kind, key string) ([]byte, error)
		DeleteBlob(ctx context.Context, kind, key string) error
	}
	// alertStore is what alert intake reads and marks: open rollbacks, the
	// latest deploy, and which services have an open incident.
	alertStore interface {
		ListRollbacks(ctx context.Context, q store.RollbackQuery) ([]*rollback.Record, error)
		ListDeploys(ctx context.Context, service string, limit int) ([]*rollback.Deploy, error)
		PutBlob(ctx context.Context, kind, key string, value []byte) error
		DeleteBlob(ctx context.Context, kind, key string) error
		store.Claims
	}
	// engineStore is what driving a rollback needs: its record, its step
	// log fenced by the lease, and votes for the message.
	engineStore interface {
		store.Rollbacks
		store.Steps
		store.Leases
	}
)

// Planner plans rollbacks and measures readiness.
type Planner struct {
	base
	history   *deployLog
	groups    *groups
	runbooks  runbook.Set
	executors *exec.Registry
	checkers  *check.Registry
	drills    store.Drills
}

// Proposals turns requests and alerts into stored, announced proposals.
type Proposals struct {
	base
	*records
	*closer
	*permits
	store     proposalStore
	planner   *Planner
	guard     *Guard
	history   *deployLog
	approvals *Approvals
}

// Approvals gathers votes, rejects, expires and signs gates; an approved
// rollback goes to the engine.
type Approvals struct {
	base
	*records
	*closer
	votes   store.Votes
	groups  *groups
	planner *Planner
	engine  *Engine
}

// Replanner re-plans open proposals when what they were planned from changed.
type Replanner struct {
	base
	*records
	*closer
	planner *Planner
}

// Deploys records what CI deployed and which releases are known-good.
type Deploys struct {
	base
	log       *deployLog
	store     store.Deploys
	replanner *Replanner
	advisor   *Planner // the change advisory gate, for high-risk deploys
}

// Guard holds back what must not happen now: thrash (a service rolled back
// again and again) and deploys through a closed pipeline gate.
type Guard struct {
	base
	rollbacks rollbackLister
	freezes   freezeStore
}

// Control steers rollbacks in flight (abort, pause, resume, override) and
// freezes services.
type Control struct {
	base
	*records
	*closer
	*permits
	groups  *groups
	engine  *Engine
	freezes freezeStore
	// votes decides an abort of someone else's proposal: ending a
	// proposal is rejecting it, which its approval policy decides.
	votes *Approvals
}

// Alerts takes normalized alerts and turns them into proposals and notes.
type Alerts struct {
	base
	*records
	*closer
	store     alertStore
	guard     *Guard
	proposals *Proposals
}

// groups resolves approver groups (named sets of users or chat user groups).
type groups struct {
	base
	directory Directory
	// The cache avoids resolving the same user group on every click.
	mu    sync.Mutex
	cache map[string]groupEntry
}

type groupEntry struct {
	members []string
	at      time.Time
}

// deployLog is the deploy history: what ran where, and what is known-good.
type deployLog struct {
	base
	store store.Deploys
}

// notifier tells people what happened: the main message, its thread,
// PagerDuty notes.
type notifier struct {
	base
	*records
	port      Notifier
	pager     Pager
	directory Directory
	views     viewStore
}

// closer closes the loop once a rollback reached a final state.
type closer struct {
	*notifier
	deploys  *deployLog
	endHooks []EndHook
}
