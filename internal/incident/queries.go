package incident

import (
	"context"
	"fmt"
	"time"

	"github.com/backout/backout/internal/rollback"
	"github.com/backout/backout/internal/store"
)

// The read-only questions that chat commands and the HTTP API ask. They go
// through the lifecycle rather than to the store or the configuration, so
// that those callers depend on the lifecycle alone and the lifecycle decides
// what a question means (which states are open, which services exist).

// ErrUnavailable is store.ErrUnavailable, named here so that callers of the
// lifecycle can tell a store outage (try again) from a bug without importing
// the store.
var ErrUnavailable = store.ErrUnavailable

// Rollback returns one rollback. The failure says that there is none by that
// id, for the person who asked.
func (s *Service) Rollback(ctx context.Context, id string) (*rollback.Record, rollback.Words, error) {
	r, failure, err := s.records.load(ctx, id)
	if err != nil {
		return nil, nil, fmt.Errorf("get rollback %s: %w", id, err)
	}
	return r, failure, nil
}

// Votes lists the votes cast on a rollback.
func (s *Service) Votes(ctx context.Context, id string) ([]rollback.Vote, error) {
	votes, err := s.reads.ListVotes(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("list votes of %s: %w", id, err)
	}
	return votes, nil
}

// StepLog returns a rollback's step log, oldest first.
func (s *Service) StepLog(ctx context.Context, id string) ([]rollback.StepEvent, error) {
	steps, err := s.reads.ListSteps(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("list steps of %s: %w", id, err)
	}
	return steps, nil
}

// OpenRollbacks lists the rollbacks not yet ended (drills included), newest
// first.
func (s *Service) OpenRollbacks(ctx context.Context) ([]*rollback.Record, error) {
	rs, err := s.reads.ListRollbacks(ctx, store.RollbackQuery{States: openStates})
	if err != nil {
		return nil, fmt.Errorf("list open rollbacks: %w", err)
	}
	return rs, nil
}

// History lists the last limit rollbacks of a service (drills included),
// newest first.
func (s *Service) History(ctx context.Context, service string, limit int) ([]*rollback.Record, error) {
	return s.Rollbacks(ctx, store.RollbackQuery{Service: service, Limit: limit})
}

// Rollbacks lists the rollbacks q selects, newest first: the registry.
func (s *Service) Rollbacks(ctx context.Context, q store.RollbackQuery) ([]*rollback.Record, error) {
	rs, err := s.reads.ListRollbacks(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("list rollbacks: %w", err)
	}
	return rs, nil
}

// KnownService reports whether name is a service in the catalog.
func (s *Service) KnownService(name string) bool {
	_, ok := s.cfg.ServiceByName(name)
	return ok
}

// UnknownService says, for the person who named it, that name is not in the
// catalog and which service they likely meant; nil when it is one.
func (s *Service) UnknownService(name string) rollback.Words {
	_, failure := s.service(name)
	return failure
}

// StableAfter is how long a deploy of service must live, unrolled-back, to
// count as known-good (the stableAfter that KnownGood takes); false when the
// catalog has no such service.
func (s *Service) StableAfter(service string) (time.Duration, bool) {
	svc, ok := s.cfg.ServiceByName(service)
	if !ok {
		return 0, false
	}
	return svc.StableAfter.D(), true
}

// Services lists the catalog's service names in catalog order, so that a
// command naming an unknown service can suggest the one meant.
func (s *Service) Services() []string {
	names := make([]string, 0, len(s.cfg.Services))
	for _, c := range s.cfg.Services {
		names = append(names, c.Name)
	}
	return names
}
