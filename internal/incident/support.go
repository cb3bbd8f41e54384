package incident

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/backout/backout/internal/rollback"
)

// supportWindowEnd is when the support window of a rollback ending in
// state closes: zero unless it succeeded, is no drill and one of its
// services has a support channel; then its end plus the longest
// support_window among those services.
func (s *base) supportWindowEnd(r *rollback.Record, state rollback.State) time.Time {
	if state != rollback.StateSucceeded || r.Drill {
		return time.Time{}
	}
	var window time.Duration
	for _, c := range r.Services {
		if svc, ok := s.cfg.ServiceByName(c.Service); ok && svc.SupportChannel != "" {
			window = max(window, svc.SupportWindow.D())
		}
	}
	if window <= 0 {
		return time.Time{}
	}
	return r.EndedAt.Add(window)
}

// errNotCounted leaves the record as it was: the report is not counted.
var errNotCounted = errors.New("support report not counted")

// ReportAffected counts one person's report, from a support channel, that
// users are still affected after a successful rollback: once per person,
// within the support window. Every press is audited first; the answer is
// for the person who pressed.
func (s *Control) ReportAffected(ctx context.Context, who Actor, id string) (rollback.Words, error) {
	r, failure, err := s.load(ctx, id)
	if err != nil || failure != nil {
		return failure, err
	}
	if r.SupportUntil.IsZero() {
		return rollback.Sayf("%s has no support window: only a successful rollback of a service with a support channel asks whether users are still affected.", id), nil
	}
	if refusal := s.auditFirst(ctx, who, "rollback.users_affected", id, map[string]string{"window_closes": r.SupportUntil.UTC().Format(time.RFC3339)}); refusal != nil {
		return refusal, nil
	}
	var outcome string
	r, err = s.update(ctx, id, func(r *rollback.Record) error {
		if outcome = r.ReportAffected(who.User, s.clock.Now()); outcome != rollback.SupportCounted {
			return errNotCounted
		}
		return nil
	})
	if err != nil && !errors.Is(err, errNotCounted) {
		return nil, err
	}
	switch outcome {
	case rollback.SupportClosed:
		return rollback.Sayf("The support window for %s closed at %s; tell the owners of %s directly.", id, stamp(r.SupportUntil), strings.Join(r.ServiceNames(), ", ")), nil
	case rollback.SupportDuplicate:
		return rollback.Sayf("You already reported that users are still affected after %s; each person counts once (%d report(s) so far).", id, len(r.SupportReports)), nil
	}
	s.tell(ctx, rollback.AffectedReported{About: rollback.About{Rollback: r}, User: who.User})
	return rollback.Sayf("Counted: %d report(s) that users are still affected after %s; its thread in the service's channel shows them. The window closes at %s.",
		len(r.SupportReports), id, stamp(r.SupportUntil)), nil
}

// stamp is a time in replies, which are plain text.
func stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05Z") }
