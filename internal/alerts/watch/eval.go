package watch

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/backout/backout/internal/alerts"
	"github.com/backout/backout/internal/config"
	"github.com/backout/backout/internal/incident"
	"github.com/backout/backout/internal/rollback"
)

// Result is the outcome of one evaluation.
type Result int

// Results.
const (
	OK           Result = iota // data, no series breached
	Breach                     // some series is above `above` or below `below`
	Inconclusive               // no data (or only NaN): says nothing either way
)

func (r Result) String() string {
	return [...]string{"ok", "breach", "inconclusive"}[r]
}

// Judge classifies a query's values against a watcher's bounds and returns
// the breaching value (or the first, when none breaches).
func Judge(values []float64, above, below *float64) (Result, float64) {
	res, first := Inconclusive, math.NaN()
	for _, v := range values {
		if math.IsNaN(v) {
			continue
		}
		if res == Inconclusive {
			res, first = OK, v
		}
		if (above != nil && v > *above) || (below != nil && v < *below) {
			return Breach, v
		}
	}
	return res, first
}

// evalState is one (deploy, watcher) pair's progress.
type evalState struct {
	next     time.Time // when it is due again
	breaches int       // consecutive
	claimed  bool      // this replica owns the once-per-deploy claim
	fired    bool      // the alert was delivered (or another replica's was)
	value    float64   // the last breaching value, for the summary
}

func (r *Runner) evaluate(ctx context.Context, svc *config.Service, d *rollback.Deploy, w *config.Watcher, st *evalState, now time.Time) {
	log := r.cfg.Logger.With("service", svc.Name, "deploy", d.ID, "watcher", w.Name)
	if st.claimed {
		r.fire(ctx, svc, d, w, st, now, log) // an earlier delivery failed; it is owed
		return
	}
	values, err := r.cfg.Querier.Query(ctx, w.Query)
	if err != nil {
		r.cfg.Metrics.Failed(alerts.SourceWatcher, alerts.StageQuery)
		log.Warn("watchers: query failed; not counted either way", "err", err)
		return
	}
	res, v := Judge(values, w.Above, w.Below)
	switch res {
	case Inconclusive:
		r.cfg.Metrics.Ignored(alerts.SourceWatcher, alerts.ReasonInconclusive)
		return
	case OK:
		st.breaches = 0
		return
	}
	st.breaches++
	st.value = v
	log.Info("watchers: breach", "value", v, "consecutive", st.breaches, "needed", w.Breaches)
	if st.breaches < w.Breaches {
		return
	}
	// The claim outlives the watch window so a restart or another replica
	// taking over does not fire the same deploy's watcher again.
	ok, err := r.cfg.Claims.Claim(ctx, "watch-fired/"+d.ID+"/"+w.Name, svc.WatchFor.D()+time.Hour)
	if err != nil {
		r.cfg.Metrics.Failed(alerts.SourceWatcher, alerts.StageClaim)
		log.Warn("watchers: cannot claim the alert; retrying at the next breach", "err", err)
		return
	}
	if !ok {
		st.fired = true // raised already, before a restart or by another replica
		return
	}
	st.claimed = true
	r.fire(ctx, svc, d, w, st, now, log)
}

func (r *Runner) fire(ctx context.Context, svc *config.Service, d *rollback.Deploy, w *config.Watcher, st *evalState, now time.Time, log *slog.Logger) {
	a := incident.Alert{
		Source:     alerts.SourceWatcher,
		Kind:       incident.AlertTriggered,
		Service:    svc.Name,
		IncidentID: "watch/" + d.ID + "/" + w.Name,
		Summary:    summary(w, d, st),
		At:         now,
	}
	if err := r.cfg.Sink.OnAlert(ctx, a); err != nil {
		r.cfg.Metrics.Failed(alerts.SourceWatcher, alerts.StageSink)
		log.Warn("watchers: sink refused the alert; retrying at the next interval", "err", err)
		return
	}
	st.fired = true
	r.cfg.Metrics.Processed(alerts.SourceWatcher)
}

func summary(w *config.Watcher, d *rollback.Deploy, st *evalState) string {
	bound := ""
	switch {
	case w.Above != nil && st.value > *w.Above:
		bound = fmt.Sprintf("above %g", *w.Above)
	case w.Below != nil:
		bound = fmt.Sprintf("below %g", *w.Below)
	}
	return fmt.Sprintf("watcher %q: %g is %s for %d checks in a row after deploying %s", w.Name, st.value, bound, st.breaches, d.Version)
}
