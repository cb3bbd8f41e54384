package incident

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/backout/backout/internal/human"
	"github.com/backout/backout/internal/rollback"
	"github.com/backout/backout/internal/store"
)

var openStates = []rollback.State{rollback.StateProposed, rollback.StateApproved, rollback.StateRunning,
	rollback.StateValidating, rollback.StateInterrupted}

// openRollback returns the open (non-terminal) rollback covering service, if any.
func (s *Guard) openRollback(ctx context.Context, service string) (*rollback.Record, error) {
	rs, err := s.rollbacks.ListRollbacks(ctx, store.RollbackQuery{Service: service, States: openStates})
	if err != nil {
		return nil, fmt.Errorf("list open rollbacks: %w", err)
	}
	for _, r := range rs {
		if !r.Drill {
			return r, nil
		}
	}
	return nil, nil
}

// thrashGuard says why an automatic proposal for service must not be made
// now, or "" when it may.
func (s *Guard) thrashGuard(ctx context.Context, service string) (string, error) {
	open, err := s.openRollback(ctx, service)
	if err != nil {
		return "", err
	}
	if open != nil {
		return fmt.Sprintf("%s is already open for %s", open.ID, service), nil
	}
	svc, failure := s.service(service)
	if failure != nil {
		return failure.String(), nil
	}
	// The newest rollbacks by creation, whenever they were created: one that
	// ran for hours may have ended a minute ago. One non-drill rollback is
	// open per service at a time, so the latest to end is among them.
	recent, err := s.rollbacks.ListRollbacks(ctx, store.RollbackQuery{Service: service, Limit: 20})
	if err != nil {
		return "", fmt.Errorf("list recent rollbacks: %w", err)
	}
	for _, r := range recent {
		if r.Drill || r.EndedAt.IsZero() {
			continue
		}
		if until := r.EndedAt.Add(svc.Cooldown.D()); s.clock.Now().Before(until) {
			return fmt.Sprintf("%s ended %s ago; %s's cooldown runs until %s", r.ID,
				human.Duration(s.clock.Now().Sub(r.EndedAt)), service, until.UTC().Format("15:04:05Z")), nil
		}
	}
	return "", nil
}

// openIncident is a PagerDuty or Alertmanager incident that holds a service.
type openIncident struct {
	Source     string `json:"source"`
	IncidentID string `json:"incident_id"`
	Summary    string `json:"summary"`
}

// GateResult answers a pipeline: may it roll out?
type GateResult struct {
	Open   bool   `json:"open"`
	Reason string `json:"reason,omitempty"`
}

// PipelineGate is closed while a rollback, an open incident or a freeze
// holds the service or any service it depends on.
func (s *Guard) PipelineGate(ctx context.Context, service string) (GateResult, rollback.Words, error) {
	if _, failure := s.service(service); failure != nil {
		return GateResult{}, failure, nil
	}
	for _, name := range s.withDependencies(service) {
		if b, err := s.freezes.GetBlob(ctx, blobFreeze, name); err == nil {
			var f Freeze
			_ = json.Unmarshal(b, &f)
			return GateResult{Reason: fmt.Sprintf("%s is frozen by %s: %s", name, f.By, f.Reason)}, nil, nil
		} else if !errors.Is(err, store.ErrNotFound) {
			return GateResult{}, nil, fmt.Errorf("read freeze: %w", err)
		}
		open, err := s.openRollback(ctx, name)
		if err != nil {
			return GateResult{}, nil, err
		}
		if open != nil {
			return GateResult{Reason: fmt.Sprintf("rollback %s of %s is %s", open.ID, name, open.State)}, nil, nil
		}
		if b, err := s.freezes.GetBlob(ctx, blobIncident, name); err == nil {
			var inc openIncident
			_ = json.Unmarshal(b, &inc)
			return GateResult{Reason: fmt.Sprintf("%s has an open %s incident %s: %s", name, inc.Source, inc.IncidentID, inc.Summary)}, nil, nil
		} else if !errors.Is(err, store.ErrNotFound) {
			return GateResult{}, nil, fmt.Errorf("read incident: %w", err)
		}
	}
	return GateResult{Open: true}, nil, nil
}

// withDependencies lists service and everything it depends on, transitively.
func (s *Guard) withDependencies(service string) []string {
	var out []string
	var visit func(string)
	visit = func(name string) {
		if slices.Contains(out, name) {
			return
		}
		out = append(out, name)
		if svc, ok := s.cfg.ServiceByName(name); ok {
			for _, d := range svc.DependsOn {
				visit(d)
			}
		}
	}
	visit(service)
	return out
}
