package drill

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/backout/backout/internal/chat"
	"github.com/backout/backout/internal/config"
	"github.com/backout/backout/internal/incident"
)

// job is one recurring duty.
type job struct {
	name     string
	schedule cron.Schedule
	offset   time.Duration // fire this long before the schedule (reminders)
	fire     func(ctx context.Context, at time.Time)
}

// next is when the job fires after t.
func (j job) next(t time.Time) time.Time {
	return j.schedule.Next(t.Add(j.offset)).Add(-j.offset)
}

func (d *Drills) jobs() ([]job, error) {
	var jobs []job
	for _, svc := range d.cfg.Services {
		if svc.Drill == nil || svc.Drill.Schedule == "" {
			continue
		}
		sched, err := config.ParseSchedule(svc.Drill.Schedule, d.cfg.Drills.Timezone)
		if err != nil {
			return nil, err
		}
		name := svc.Name
		jobs = append(jobs, job{name: "drill/" + name, schedule: sched, fire: func(ctx context.Context, at time.Time) {
			if _, failure, err := d.RunNow(ctx, incident.Actor{User: "backout", From: "cron"}, name); err != nil || failure != nil {
				d.log.WarnContext(ctx, "scheduled drill did not start", "service", name, "failure", failure.String(), "err", err)
			}
		}})
		if rb := svc.Drill.RemindBefore.D(); rb > 0 {
			channel, mode := svc.Channel, d.modeText(name, svc.Drill.Mode)
			jobs = append(jobs, job{name: "remind/" + name, schedule: sched, offset: rb, fire: func(ctx context.Context, at time.Time) {
				text := fmt.Sprintf("⏰ Reminder: a rollback drill of %s (%s) starts at %s.", name, mode, chat.Stamp(at.Add(rb)))
				if _, err := d.poster.Post(ctx, chat.Ref{Channel: channel}, chat.TextMessage(chat.Plain(text))); err != nil {
					d.log.WarnContext(ctx, "drill reminder", "service", name, "err", err)
				}
			}})
		}
	}
	sched, err := config.ParseSchedule(d.cfg.Drills.ReportSchedule, d.cfg.Drills.Timezone)
	if err != nil {
		return nil, err
	}
	jobs = append(jobs, job{name: "report/weekly", schedule: sched, fire: d.weeklyReport})
	return jobs, nil
}

// Run fires jobs on schedule until ctx ends. Each firing is claimed in the
// store under the job name and its scheduled time, so with several replicas
// exactly one fires it.
func (d *Drills) Run(ctx context.Context) error {
	jobs, err := d.jobs()
	if err != nil {
		return err
	}
	for {
		now := d.clock.Now()
		d.updateOverdue(ctx)
		type due struct {
			j  job
			at time.Time
		}
		var next []due
		for _, j := range jobs {
			next = append(next, due{j, j.next(now)})
		}
		sort.Slice(next, func(a, b int) bool { return next[a].at.Before(next[b].at) })
		wait := time.Minute // wake at least every minute to refresh overdue gauges
		if len(next) > 0 {
			wait = min(wait, next[0].at.Sub(now))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-d.clock.After(max(wait, 0)):
		}
		now = d.clock.Now()
		for _, n := range next {
			if n.at.After(now) {
				break
			}
			d.fireOnce(ctx, n.j, n.at)
		}
	}
}

func (d *Drills) fireOnce(ctx context.Context, j job, at time.Time) {
	key := fmt.Sprintf("cron/%s/%d", j.name, at.Unix())
	first, err := d.store.Claim(ctx, key, 24*time.Hour)
	if err != nil {
		d.log.WarnContext(ctx, "cron claim failed; skipping this tick", "job", j.name, "err", err)
		return
	}
	if !first {
		return // another replica fired it
	}
	d.log.InfoContext(ctx, "cron fired", "job", j.name, "at", at)
	j.fire(ctx, at)
}

func (d *Drills) weeklyReport(ctx context.Context, at time.Time) {
	msg, err := d.reporter.Registry(ctx, "", 7*24*time.Hour)
	if err != nil {
		d.log.ErrorContext(ctx, "weekly report", "err", err)
		return
	}
	msg.Header = "Weekly rollback report"
	channels := d.cfg.Drills.ReportChannels
	if len(channels) == 0 {
		seen := map[string]bool{}
		for _, s := range d.cfg.Services {
			if s.Channel != "" && !seen[s.Channel] {
				seen[s.Channel] = true
				channels = append(channels, s.Channel)
			}
		}
	}
	for _, ch := range channels {
		if _, err := d.poster.Post(ctx, chat.Ref{Channel: ch}, msg); err != nil {
			d.log.WarnContext(ctx, "weekly report post", "channel", ch, "err", err)
		}
	}
}

func (d *Drills) updateOverdue(ctx context.Context) {
	for _, s := range d.cfg.Services {
		last, err := d.svc.LastSuccessfulDrill(ctx, s.Name)
		overdue := err != nil || d.clock.Now().Sub(last.At) > d.svc.DrillMaxAge(s.Name)
		d.metrics.Overdue(s.Name, overdue)
	}
}
