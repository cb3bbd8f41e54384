package commands

import (
	"context"
	"time"

	"github.com/backout/backout/internal/incident"
	"github.com/backout/backout/internal/rollback"
)

// Lifecycle is what the dispatcher asks of the rollback lifecycle
// (*incident.Service implements it). Commands change and read state only
// through it, never through the store, so that every change is checked and
// audited by the lifecycle, and tests can hand the dispatcher a fake.
type Lifecycle interface {
	// Changes. A failure (non-nil) is for the person who asked.
	Propose(ctx context.Context, who incident.Actor, req incident.ProposeRequest) (*rollback.Record, rollback.Words, error)
	Vote(ctx context.Context, who incident.Actor, req incident.VoteRequest) (rollback.Words, error)
	Abort(ctx context.Context, who incident.Actor, id, reason string) (rollback.Words, error)
	Resume(ctx context.Context, who incident.Actor, id string) (rollback.Words, error)
	Pause(ctx context.Context, who incident.Actor, id string) (rollback.Words, error)
	SignGate(ctx context.Context, who incident.Actor, id, key string) (rollback.Words, error)
	Override(ctx context.Context, who incident.Actor, id, check, reason string) (rollback.Words, error)
	SetFreeze(ctx context.Context, who incident.Actor, service, reason string) (rollback.Words, error)
	ClearFreeze(ctx context.Context, who incident.Actor, service string) (rollback.Words, error)
	// ReportAffected answers the person in every case (counted or not).
	ReportAffected(ctx context.Context, who incident.Actor, id string) (rollback.Words, error)

	// Questions.
	Plan(ctx context.Context, req incident.PlanRequest) ([]rollback.ServiceChange, string, rollback.Words, error)
	ServiceReadiness(ctx context.Context, service string) ([]rollback.CheckResult, rollback.Words, error)
	Rollback(ctx context.Context, id string) (*rollback.Record, rollback.Words, error)
	Votes(ctx context.Context, id string) ([]rollback.Vote, error)
	StepLog(ctx context.Context, id string) ([]rollback.StepEvent, error)
	OpenRollbacks(ctx context.Context) ([]*rollback.Record, error)
	History(ctx context.Context, service string, limit int) ([]*rollback.Record, error)
	Deploys(ctx context.Context, service string, limit int) ([]*rollback.Deploy, error)
	KnownGood(deploys []*rollback.Deploy, i int, stableAfter time.Duration) bool
	KnownService(name string) bool
	Services() []string
	StableAfter(service string) (time.Duration, bool)
}

// The dispatcher is wired with the real lifecycle.
var _ Lifecycle = (*incident.Service)(nil)
