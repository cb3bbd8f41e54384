package console

import (
	"fmt"
	"strings"
	"time"

	"github.com/backout/backout/internal/human"
	"github.com/backout/backout/internal/rollback"
)

// stepRun is what the step log says of one step: its transitions in order
// (output chunks left out), and the output of the attempt still running.
type stepRun struct {
	events   []rollback.StepEvent
	attempts int
	live     []string
}

// last is the step's latest transition; the zero event when it never started.
func (s *stepRun) last() rollback.StepEvent {
	if s == nil || len(s.events) == 0 {
		return rollback.StepEvent{}
	}
	return s.events[len(s.events)-1]
}

// stepRuns groups the step log by service/step.
func stepRuns(steps []rollback.StepEvent) map[string]*stepRun {
	runs := map[string]*stepRun{}
	for _, ev := range steps {
		key := ev.Service + "/" + ev.StepID
		run := runs[key]
		if run == nil {
			run = &stepRun{}
			runs[key] = run
		}
		switch ev.Kind {
		case rollback.StepOutput:
			run.live = append(run.live, strings.Split(strings.TrimRight(ev.Output, "\n"), "\n")...)
			continue
		case rollback.StepStarted:
			run.attempts++
			run.live = nil
		}
		run.events = append(run.events, ev)
	}
	return runs
}

// recordSteps writes every planned step of every service in plan order:
// status, attempts, timings, the command, each failed attempt and
// compensation, the final error and the output's tail.
func recordSteps(w *textWriter, r *rollback.Record, steps []rollback.StepEvent) {
	w.section("Steps")
	runs := stepRuns(steps)
	for _, c := range r.Services {
		w.line("%s", c.Service)
		for i, st := range c.Steps {
			run := runs[c.Service+"/"+st.ID]
			w.line("  %d. %s (%s, %s) · %s", i+1, st.Title, st.ID, st.Uses, stepStatus(st, run))
			if st.Gate != "" {
				w.line("     gate: %s", st.Gate)
			}
			if st.Preview != "" {
				w.block("     ", st.Preview)
			}
			stepHistory(w, run)
		}
	}
}

// stepStatus is the step's headline: where it stands, how many attempts it
// took and when it started (each attempt's end, below it, says how long).
func stepStatus(st rollback.PlannedStep, run *stepRun) string {
	last := run.last()
	switch {
	case last.Kind == "" && st.Skipped:
		return "skipped at plan time (condition false)"
	case last.Kind == "":
		return "not started"
	}
	status := last.Kind
	switch last.Kind {
	case rollback.StepStarted:
		status = "running"
	case rollback.StepGateWaiting:
		status = "waiting at its gate"
	}
	parts := []string{status}
	if run.attempts > 0 {
		parts = append(parts, plural(run.attempts, "attempt"))
		parts = append(parts, "started "+clock(firstStart(run)))
	}
	return strings.Join(parts, " · ")
}

func firstStart(run *stepRun) time.Time {
	for _, ev := range run.events {
		if ev.Kind == rollback.StepStarted {
			return ev.At
		}
	}
	return time.Time{}
}

// stepHistory writes what happened to a step, one line per transition
// after its start (each failed attempt, a gate, compensation, the end), each
// followed by the tail of the output it carried; a step still running shows
// the output of its current attempt.
func stepHistory(w *textWriter, run *stepRun) {
	if run == nil {
		return
	}
	for i, ev := range run.events {
		last := i == len(run.events)-1
		switch {
		case ev.Kind == rollback.StepStarted && last:
			w.line("     running since %s (attempt %d)", clock(ev.At), ev.Attempt)
			tail(w, strings.Join(run.live, "\n"))
		case ev.Kind == rollback.StepStarted:
		default:
			w.line("     %s", transition(ev))
			tail(w, ev.Output)
		}
	}
}

// transition is one line for a step's transition: what, when, after how
// long, with what exit code and error.
func transition(ev rollback.StepEvent) string {
	what := ev.Kind
	if ev.Kind == rollback.StepRetrying {
		what = fmt.Sprintf("attempt %d failed", ev.Attempt) // the next line is the retry
	}
	line := fmt.Sprintf("%s at %s", what, clock(ev.At))
	if ev.Duration > 0 {
		line += " after " + human.Duration(ev.Duration)
	}
	// Most executors' errors already say "exit status N"; say it only when not.
	if exit := fmt.Sprintf("exit status %d", ev.ExitCode); ev.ExitCode != 0 && !strings.Contains(ev.Error, exit) {
		line += " (" + exit + ")"
	}
	if ev.Error != "" {
		line += ": " + oneLine(ev.Error)
	}
	return line
}

// tail writes the last tailLines lines of output, saying how many came before.
func tail(w *textWriter, output string) {
	output = strings.TrimRight(output, "\n")
	if strings.TrimSpace(output) == "" {
		return
	}
	lines := strings.Split(output, "\n")
	if n := len(lines) - tailLines; n > 0 {
		w.line("     │ … %s before", plural(n, "line"))
		lines = lines[n:]
	}
	for _, l := range lines {
		w.line("     │ %s", l)
	}
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
