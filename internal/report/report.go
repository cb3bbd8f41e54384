// Package report summarizes the registry: rollbacks by service and outcome,
// time to approve and to recover against targets, drills, and the steps that
// fail most. The weekly report and `/rollback registry` share it.
package report

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/backout/backout/internal/chat"
	"github.com/backout/backout/internal/config"
	"github.com/backout/backout/internal/human"
	"github.com/backout/backout/internal/rollback"
	"github.com/backout/backout/internal/store"
)

// Summary is the registry over a period.
type Summary struct {
	Service      string
	Since, Until time.Time
	Outcomes     map[string]map[string]int // service -> state -> count (real rollbacks only)
	Approve      Quantiles
	Recover      Quantiles
	OverTarget   int // rollbacks that took longer than their recovery target
	WithTarget   int
	DrillsDone   int
	DrillsFailed int
	// DrillsDryRun counts the period's drills that ran as dry runs (by the
	// mode they ran in, whatever their policy asked for): they run no step.
	DrillsDryRun  int
	DrillsOverdue []string
	FailingSteps  []StepCount
	// UnprovenHighRisk are high-risk releases of the period that went out
	// without a proven rollback path (no fresh drill, runbook lint errors).
	UnprovenHighRisk []UnprovenDeploy
}

// UnprovenDeploy is one high-risk release shipped without a proven
// rollback path, and why.
type UnprovenDeploy struct {
	Service, Version string
	At               time.Time
	Why              []string
}

// Quantiles of a duration sample.
type Quantiles struct {
	N           int
	Median, P90 time.Duration
}

// StepCount is how often one step failed.
type StepCount struct {
	Step  string // service/step
	Count int
}

// Builder reads what a summary needs.
type Builder struct {
	Store  store.Store
	Config *config.Config
	Now    func() time.Time
	// MaxAge returns a service's drill policy period.
	MaxAge func(service string) time.Duration
}

// readPage is how many rollbacks Build reads per store call: the summary
// keeps counts and durations, never the records, so memory stays one page.
const readPage = 500

// Build summarizes rollbacks created in [now-since, now), reading them
// through the store's service (or time) index a page at a time.
func (b *Builder) Build(ctx context.Context, service string, since time.Duration) (Summary, error) {
	now := b.Now()
	s := Summary{Service: service, Since: now.Add(-since), Until: now, Outcomes: map[string]map[string]int{}}
	var approve, recover []time.Duration
	failing := map[string]int{}
	q := store.RollbackQuery{Service: service, Since: s.Since, Until: now, Limit: readPage}
	for {
		rs, err := b.Store.ListRollbacks(ctx, q)
		if err != nil {
			return s, fmt.Errorf("list rollbacks: %w", err)
		}
		for _, r := range rs {
			if r.Drill {
				continue
			}
			s.count(r, &approve, &recover)
			if err := b.countFailedSteps(ctx, r, failing); err != nil {
				return s, err
			}
		}
		if len(rs) < readPage {
			break
		}
		q.Before = store.PositionOf(rs[len(rs)-1])
	}
	s.Approve, s.Recover = quantiles(approve), quantiles(recover)
	for step, n := range failing {
		s.FailingSteps = append(s.FailingSteps, StepCount{step, n})
	}
	sort.Slice(s.FailingSteps, func(i, j int) bool {
		a, c := s.FailingSteps[i], s.FailingSteps[j]
		return a.Count > c.Count || (a.Count == c.Count && a.Step < c.Step)
	})
	if err := b.drills(ctx, &s); err != nil {
		return s, err
	}
	return s, b.unproven(ctx, &s)
}

// deploysPerService bounds how far back unproven() reads each service's
// deploy history (newest first); it stops at the period's start anyway.
const deploysPerService = 500

// unproven lists the period's high-risk deploys flagged when recorded.
func (b *Builder) unproven(ctx context.Context, s *Summary) error {
	for _, svc := range b.Config.Services {
		if s.Service != "" && svc.Name != s.Service {
			continue
		}
		ds, err := b.Store.ListDeploys(ctx, svc.Name, deploysPerService)
		if err != nil {
			return fmt.Errorf("list deploys of %s: %w", svc.Name, err)
		}
		for _, d := range ds {
			if d.At.Before(s.Since) {
				break
			}
			if d.At.Before(s.Until) && len(d.Unproven) > 0 {
				s.UnprovenHighRisk = append(s.UnprovenHighRisk, UnprovenDeploy{Service: d.Service, Version: d.Version, At: d.At, Why: d.Unproven})
			}
		}
	}
	sort.SliceStable(s.UnprovenHighRisk, func(i, j int) bool { return s.UnprovenHighRisk[i].At.Before(s.UnprovenHighRisk[j].At) })
	return nil
}

// count adds one real rollback to the outcome table and the timings.
func (s *Summary) count(r *rollback.Record, approve, recover *[]time.Duration) {
	for _, c := range r.Services {
		if s.Service != "" && c.Service != s.Service {
			continue
		}
		if s.Outcomes[c.Service] == nil {
			s.Outcomes[c.Service] = map[string]int{}
		}
		s.Outcomes[c.Service][string(r.State)]++
	}
	if !r.DecidedAt.IsZero() && r.State != rollback.StateRejected && r.State != rollback.StateExpired && r.State != rollback.StateStale {
		*approve = append(*approve, r.DecidedAt.Sub(r.CreatedAt))
	}
	if r.State == rollback.StateSucceeded {
		took := rollback.RecoveryTime(r)
		*recover = append(*recover, took)
		if r.RecoveryTarget > 0 {
			s.WithTarget++
			if took > r.RecoveryTarget {
				s.OverTarget++
			}
		}
	}
}

// countFailedSteps counts the failed steps of a rollback that ran.
func (b *Builder) countFailedSteps(ctx context.Context, r *rollback.Record, failing map[string]int) error {
	if r.StartedAt.IsZero() {
		return nil
	}
	steps, err := b.Store.ListSteps(ctx, r.ID)
	if err != nil {
		return fmt.Errorf("list steps of %s: %w", r.ID, err)
	}
	for _, ev := range steps {
		if ev.Kind == rollback.StepFailed {
			failing[ev.Service+"/"+ev.StepID]++
		}
	}
	return nil
}

// drills counts each service's drills in the period and finds its last
// successful one, reading the service's drill index no further back than
// both need.
func (b *Builder) drills(ctx context.Context, s *Summary) error {
	for _, svc := range b.Config.Services {
		if s.Service != "" && svc.Name != s.Service {
			continue
		}
		lastOK := time.Time{}
		err := b.Store.ScanDrills(ctx, svc.Name, func(d rollback.DrillRecord) bool {
			inPeriod := !d.At.Before(s.Since)
			if inPeriod {
				s.DrillsDone++
				if !d.Succeeded {
					s.DrillsFailed++
				}
				if d.DryRun() {
					s.DrillsDryRun++
				}
			}
			if d.Succeeded && lastOK.IsZero() {
				lastOK = d.At
			}
			return inPeriod || lastOK.IsZero()
		})
		if err != nil {
			return fmt.Errorf("list drills: %w", err)
		}
		if lastOK.IsZero() || s.Until.Sub(lastOK) > b.MaxAge(svc.Name) {
			s.DrillsOverdue = append(s.DrillsOverdue, svc.Name)
		}
	}
	return nil
}

// quantiles uses the nearest-rank method.
func quantiles(ds []time.Duration) Quantiles {
	if len(ds) == 0 {
		return Quantiles{}
	}
	slices.Sort(ds)
	rank := func(q float64) time.Duration {
		i := int(q*float64(len(ds))+0.999999) - 1
		return ds[max(0, min(i, len(ds)-1))]
	}
	return Quantiles{N: len(ds), Median: rank(0.5), P90: rank(0.9)}
}

// Message renders a summary for chat.
func Message(s Summary, title string) chat.Message {
	var secs []chat.Section
	t := &chat.Table{Header: []string{"service", "succeeded", "failed", "aborted", "rejected/expired/stale", "open"}}
	for _, svc := range sortedKeys(s.Outcomes) {
		o := s.Outcomes[svc]
		open := o["proposed"] + o["approved"] + o["running"] + o["validating"] + o["interrupted"]
		t.Rows = append(t.Rows, []string{svc, fmt.Sprint(o["succeeded"]), fmt.Sprint(o["failed"]), fmt.Sprint(o["aborted"]),
			fmt.Sprint(o["rejected"] + o["expired"] + o["stale"]), fmt.Sprint(open)})
	}
	if len(t.Rows) == 0 {
		secs = append(secs, chat.Section{Title: "Rollbacks", Text: chat.Plain("none in this period")})
	} else {
		secs = append(secs, chat.Section{Title: "Rollbacks by service and outcome", Table: t})
	}
	timing := fmt.Sprintf("Time to approve: median %s, p90 %s (n=%d)\nTime to recover: median %s, p90 %s (n=%d)",
		dur(s.Approve.Median), dur(s.Approve.P90), s.Approve.N, dur(s.Recover.Median), dur(s.Recover.P90), s.Recover.N)
	if s.WithTarget > 0 {
		timing += fmt.Sprintf("\nRecovery target met %d of %d times", s.WithTarget-s.OverTarget, s.WithTarget)
	}
	secs = append(secs, chat.Section{Title: "Timing", Text: chat.Plain(timing)})
	drills := fmt.Sprintf("Drills done: %d (%d failed)", s.DrillsDone, s.DrillsFailed)
	if s.DrillsDryRun > 0 {
		drills += fmt.Sprintf("\nDry runs among them (no step ran): %d; in their environment: %d", s.DrillsDryRun, s.DrillsDone-s.DrillsDryRun)
	}
	if len(s.DrillsOverdue) > 0 {
		drills += "\nOverdue: " + strings.Join(s.DrillsOverdue, ", ")
	} else {
		drills += "\nNo service is overdue."
	}
	secs = append(secs, chat.Section{Title: "Drills", Text: chat.Plain(drills)})
	if len(s.UnprovenHighRisk) > 0 {
		ut := &chat.Table{Header: []string{"service", "version", "deployed", "why"}}
		for _, u := range s.UnprovenHighRisk {
			ut.Rows = append(ut.Rows, []string{u.Service, u.Version, u.At.UTC().Format("2006-01-02 15:04"), strings.Join(u.Why, "; ")})
		}
		secs = append(secs, chat.Section{Title: "High-risk releases without a fresh drill", Table: ut})
	}
	if len(s.FailingSteps) > 0 {
		ft := &chat.Table{Header: []string{"step", "failures"}}
		for _, f := range s.FailingSteps[:min(5, len(s.FailingSteps))] {
			ft.Rows = append(ft.Rows, []string{f.Step, fmt.Sprint(f.Count)})
		}
		secs = append(secs, chat.Section{Title: "Steps that fail most", Table: ft})
	}
	period := fmt.Sprintf("%s – %s", s.Since.UTC().Format("2006-01-02"), s.Until.UTC().Format("2006-01-02"))
	return chat.Message{Header: title, Text: chat.Plain(title + " " + period), Sections: secs, Context: chat.Plain(period)}
}

func dur(d time.Duration) string {
	if d == 0 {
		return "–"
	}
	return human.Duration(d)
}

func sortedKeys(m map[string]map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Registry implements commands.Reporter.
func (b *Builder) Registry(ctx context.Context, service string, since time.Duration) (chat.Message, error) {
	s, err := b.Build(ctx, service, since)
	if err != nil {
		return chat.Message{}, err
	}
	title := "Rollback registry"
	if service != "" {
		title += " · " + service
	}
	return Message(s, title), nil
}
