// Package drill schedules rollback drills and their reminders, runs drills
// through the normal lifecycle in drill mode, keeps scorecards, and sends
// the weekly report. With several replicas each cron tick fires once: every
// firing is claimed in the store first.
package drill

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/backout/backout/internal/chat"
	"github.com/backout/backout/internal/config"
	"github.com/backout/backout/internal/human"
	"github.com/backout/backout/internal/incident"
	"github.com/backout/backout/internal/report"
	"github.com/backout/backout/internal/rollback"
	"github.com/backout/backout/internal/store"
)

// Clock tells time and waits; tests use a fake one.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

// SystemClock is the real clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// After is time.After.
func (SystemClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Metrics receives drill measurements.
type Metrics interface {
	DrillEnded(service string, succeeded bool)
	Overdue(service string, overdue bool)
}

// DrillStore is the state the drill programme keeps itself: scorecards, the
// once-per-cluster claims on cron firings, and the step log a scorecard
// reads. store.Store satisfies it.
type DrillStore interface {
	store.Drills
	store.Claims
	ListSteps(ctx context.Context, rollbackID string) ([]rollback.StepEvent, error)
}

// Drills runs the drill programme.
type Drills struct {
	cfg      *config.Config
	svc      *incident.Service
	store    DrillStore
	poster   chat.Poster
	reporter *report.Builder
	clock    Clock
	log      *slog.Logger
	metrics  Metrics
}

// New builds the drill programme.
func New(cfg *config.Config, svc *incident.Service, st DrillStore, poster chat.Poster, reporter *report.Builder, clock Clock, log *slog.Logger, m Metrics) *Drills {
	if clock == nil {
		clock = SystemClock{}
	}
	return &Drills{cfg: cfg, svc: svc, store: st, poster: poster, reporter: reporter, clock: clock, log: log, metrics: m}
}

// policy is a service's drill policy (dry-run when it has none).
func (d *Drills) policy(service string) config.DrillPolicy {
	if s, ok := d.cfg.ServiceByName(service); ok && s.Drill != nil {
		return *s.Drill
	}
	return config.DrillPolicy{Mode: config.DrillModeDryRun}
}

// modeText is the mode a drill of the service runs in, as people read it:
// the policy's, or "dry-run (the policy says environment; runbook rb
// forces drill.dry_run)" when its runbook forces dry runs.
func (d *Drills) modeText(service, policyMode string) string {
	r := &rollback.Record{Drill: true, DrillMode: policyMode}
	if svc, ok := d.cfg.ServiceByName(service); ok {
		r.Services = []rollback.ServiceChange{{Service: service, Runbook: svc.Runbook}}
	}
	_, r.DrillDryRunCause = d.svc.DrillRunMode(r, service)
	return r.DrillModeText()
}

// RunNow starts a drill of a service through the normal lifecycle.
func (d *Drills) RunNow(ctx context.Context, who incident.Actor, service string) (*rollback.Record, rollback.Words, error) {
	if _, ok := d.cfg.ServiceByName(service); !ok {
		return nil, rollback.Sayf("Unknown service %q.", service), nil
	}
	p := d.policy(service)
	source := strings.SplitN(who.From, ":", 2)[0]
	return d.svc.Propose(ctx, who, incident.ProposeRequest{
		Services: []string{service}, Drill: true, DrillMode: p.Mode,
		Reason:  "rollback drill (" + d.modeText(service, p.Mode) + ")",
		Trigger: rollback.Trigger{Kind: "drill", Source: source, At: d.clock.Now()},
	})
}

// Describe says when a service drills next and how it did last time.
func (d *Drills) Describe(ctx context.Context, service string) (chat.Message, string, error) {
	svc, ok := d.cfg.ServiceByName(service)
	if !ok {
		return chat.Message{}, fmt.Sprintf("Unknown service %q.", service), nil
	}
	var lines []chat.Text
	if svc.Drill == nil || svc.Drill.Schedule == "" {
		lines = append(lines, chat.Textf("No drill schedule. Run one with %s.", chat.Code("/rollback drill "+service+" now")))
	} else {
		sched, err := config.ParseSchedule(svc.Drill.Schedule, d.cfg.Drills.Timezone)
		if err != nil {
			return chat.Message{}, "", err
		}
		lines = append(lines, chat.Textf("Schedule: %s (%s), next %s", chat.Code(svc.Drill.Schedule), d.modeText(service, svc.Drill.Mode), chat.Stamp(sched.Next(d.clock.Now()))))
		if svc.Drill.RemindBefore > 0 {
			lines = append(lines, chat.Textf("Reminder %s before, in %s", human.Duration(svc.Drill.RemindBefore.D()), chat.Channel(svc.Channel)))
		}
	}
	var drills []rollback.DrillRecord // the newest only: the index is read no further
	err := d.store.ScanDrills(ctx, service, func(dr rollback.DrillRecord) bool {
		drills = append(drills, dr)
		return false
	})
	if err != nil {
		return chat.Message{}, "", err
	}
	if len(drills) > 0 {
		last := drills[0]
		result := "failed"
		if last.Succeeded {
			result = "succeeded"
		}
		lines = append(lines, chat.Textf("Last drill %s (%s): %s %s in %s (target %s)", last.RollbackID, last.ModeText(), chat.Stamp(last.At), result,
			human.Duration(last.Duration), durationOr(last.RecoveryTarget, "not set")))
	}
	lines = append(lines, chat.Plain("Drill policy: one successful drill every "+human.Duration(d.svc.DrillMaxAge(service))))
	text := chat.Join(lines, "\n")
	return chat.Message{Text: text, Sections: []chat.Section{{Title: "Drills of " + service, Text: text}}}, "", nil
}

func durationOr(d time.Duration, none string) string {
	if d <= 0 {
		return none
	}
	return human.Duration(d)
}
