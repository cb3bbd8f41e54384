// Package steplog reads the execution log that fault tests' runbook steps
// write, and finds two executions of one step that overlapped in time.
//
// Each execution of a recording step appends lines to one shared file:
//
//	start STEP PID BOT UNIX.NANOS SUPERVISOR
//	proc  STEP PID CHILD
//	end   STEP PID BOT UNIX.NANOS
//
// PID is the step's shell, BOT the bot process driving it, SUPERVISOR the
// step supervisor between them (0 when there is none) and CHILD a process
// the shell started. An execution with no end line was cut short; it counts
// as running for as long as any of its processes is alive, which only a
// Watcher, polling /proc while the test runs, can tell.
package steplog

import (
	"bufio"
	"bytes"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Execution is one run of one step, as its log lines and /proc tell it.
type Execution struct {
	Step       string
	PID        int // the step's shell
	Bot        int // the bot process that drove it
	Supervisor int // the step supervisor, 0 when none
	Children   []int
	Start      time.Time
	End        time.Time // zero: no end line (cut short, or still running)
	// Gone is when a Watcher first saw every process of an execution without
	// an end line gone; zero when none did (still alive, or not watched).
	Gone time.Time
}

// PIDs are the execution's processes: supervisor, shell, children.
func (e Execution) PIDs() []int {
	var out []int
	if e.Supervisor > 0 {
		out = append(out, e.Supervisor)
	}
	return append(append(out, e.PID), e.Children...)
}

// Finished is when the execution stopped running: its end line, else the
// moment its processes were seen gone; ok is false while it may still run.
func (e Execution) Finished() (at time.Time, ok bool) {
	switch {
	case !e.End.IsZero():
		return e.End, true
	case !e.Gone.IsZero():
		return e.Gone, true
	}
	return time.Time{}, false
}

func (e Execution) String() string {
	end := "still running"
	switch {
	case !e.End.IsZero():
		end = "ended " + e.End.Format("15:04:05.000")
	case !e.Gone.IsZero():
		end = "cut short, gone by " + e.Gone.Format("15:04:05.000")
	}
	return fmt.Sprintf("%s pid %d (bot %d) started %s, %s", e.Step, e.PID, e.Bot, e.Start.Format("15:04:05.000"), end)
}

// Parse reads an execution log. A last line without its newline is being
// written and is left for the next read; any other malformed line is an
// error, since a test that cannot read its log cannot vouch for anything.
func Parse(data []byte) ([]Execution, error) {
	if i := bytes.LastIndexByte(data, '\n'); i < len(data)-1 {
		data = data[:i+1]
	}
	var out []Execution
	index := map[string]int{} // step/pid -> position in out
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		if err := parseLine(sc.Text(), &out, index); err != nil {
			return nil, fmt.Errorf("execution log line %d %q: %w", n, sc.Text(), err)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("execution log: %w", err)
	}
	return out, nil
}

// fieldCount is how many fields each kind of line has, kind included.
var fieldCount = map[string]int{"start": 6, "proc": 4, "end": 5}

func parseLine(line string, out *[]Execution, index map[string]int) error {
	f := strings.Fields(line)
	if len(f) == 0 {
		return nil
	}
	want, known := fieldCount[f[0]]
	if !known || len(f) != want {
		return fmt.Errorf("want start (6 fields), proc (4) or end (5)")
	}
	nums, err := processIDs(f)
	if err != nil {
		return err
	}
	key := f[1] + "/" + f[2]
	i, seen := index[key]
	if f[0] == "start" {
		if seen {
			return fmt.Errorf("second start of step %s pid %s", f[1], f[2])
		}
		at, err := parseClock(f[4])
		if err != nil {
			return err
		}
		index[key] = len(*out)
		*out = append(*out, Execution{Step: f[1], PID: nums[0], Bot: nums[1], Start: at, Supervisor: nums[3]})
		return nil
	}
	if !seen {
		return fmt.Errorf("%s of step %s pid %s before its start", f[0], f[1], f[2])
	}
	e := &(*out)[i]
	if f[0] == "proc" {
		e.Children = append(e.Children, nums[1])
		return nil
	}
	if !e.End.IsZero() {
		return fmt.Errorf("second end of step %s pid %s", f[1], f[2])
	}
	at, err := parseClock(f[4])
	if err != nil {
		return err
	}
	if at.Before(e.Start) {
		return fmt.Errorf("ends before it starts (%s)", e.Start.Format(time.RFC3339Nano))
	}
	e.End = at
	return nil
}

// processIDs parses the fields after the step name, but the clock (the
// third of them in start and end lines), as process ids; the clock's
// place holds 0.
func processIDs(f []string) ([]int, error) {
	out := make([]int, len(f)-2)
	for i, s := range f[2:] {
		if i == 2 && f[0] != "proc" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("field %q is not a process id", s)
		}
		out[i] = n
	}
	return out, nil
}

// parseClock reads date +%s.%N: seconds, a dot, nine digits.
func parseClock(s string) (time.Time, error) {
	sec, frac, ok := strings.Cut(s, ".")
	if !ok || len(frac) != 9 {
		return time.Time{}, fmt.Errorf("clock %q is not SECONDS.NANOSECONDS", s)
	}
	secs, err1 := strconv.ParseInt(sec, 10, 64)
	nanos, err2 := strconv.ParseInt(frac, 10, 64)
	if err1 != nil || err2 != nil || secs < 0 || nanos < 0 {
		return time.Time{}, fmt.Errorf("clock %q is not SECONDS.NANOSECONDS", s)
	}
	return time.Unix(secs, nanos), nil
}

// Overlap is two executions of one step that ran at the same time.
type Overlap struct {
	First, Second Execution
	For           time.Duration // how long both ran; until now when both still run
}

func (o Overlap) String() string {
	return fmt.Sprintf("%s overlapped for %v:\n    %v\n    %v", o.First.Step, o.For.Round(time.Millisecond), o.First, o.Second)
}

// Overlaps finds every pair of executions of one step whose running times
// intersect; an execution still running runs until now.
func Overlaps(execs []Execution, now time.Time) []Overlap {
	sorted := append([]Execution(nil), execs...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Start.Before(sorted[j].Start) })
	var out []Overlap
	for i, a := range sorted {
		aEnd := finishedOr(a, now)
		for _, b := range sorted[i+1:] {
			if b.Step != a.Step || !b.Start.Before(aEnd) {
				continue
			}
			both := minTime(aEnd, finishedOr(b, now)).Sub(b.Start)
			out = append(out, Overlap{First: a, Second: b, For: both})
		}
	}
	return out
}

func finishedOr(e Execution, now time.Time) time.Time {
	if at, ok := e.Finished(); ok {
		return at
	}
	return now
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// Of returns the executions of step, oldest first.
func Of(execs []Execution, step string) []Execution {
	var out []Execution
	for _, e := range execs {
		if e.Step == step {
			out = append(out, e)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Start.Before(out[j].Start) })
	return out
}
