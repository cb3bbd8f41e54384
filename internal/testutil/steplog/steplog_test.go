package steplog

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	cases := []struct {
		name, log string
		want      []string // Execution.String of each
		err       string
	}{
		{"one finished, one cut short, a line being written",
			"start migrate 100 10 1700000000.000000000 99\nproc migrate 100 101\nend migrate 100 10 1700000003.500000000\n" +
				"start migrate 200 20 1700000004.000000000 0\nend migr",
			[]string{"migrate pid 100 (bot 10) started " + clock(1700000000, 0) + ", ended " + clock(1700000003, 500),
				"migrate pid 200 (bot 20) started " + clock(1700000004, 0) + ", still running"}, ""},
		{"empty", "", nil, ""},
		{"unknown kind", "begin migrate 1 2 3.000000000 0\n", nil, "line 1"},
		{"short start", "start migrate 1 2 3.000000000\n", nil, "want start (6 fields)"},
		{"end before start", "end migrate 1 2 3.000000000\n", nil, "before its start"},
		{"proc before start", "proc migrate 1 2\n", nil, "before its start"},
		{"two starts", "start m 1 2 3.000000000 0\nstart m 1 2 4.000000000 0\n", nil, "second start"},
		{"two ends", "start m 1 2 3.000000000 0\nend m 1 2 4.000000000\nend m 1 2 5.000000000\n", nil, "second end"},
		{"ends before it starts", "start m 1 2 3.000000000 0\nend m 1 2 2.000000000\n", nil, "ends before it starts"},
		{"clock without nanoseconds", "start m 1 2 3 0\n", nil, "not SECONDS.NANOSECONDS"},
		{"clock with short fraction", "start m 1 2 3.5 0\n", nil, "not SECONDS.NANOSECONDS"},
		{"pid not a number", "start m x 2 3.000000000 0\n", nil, `"x" is not a process id`},
		{"child with a dot", "start m 1 2 3.000000000 0\nproc m 1 4.5\n", nil, `"4.5" is not a process id`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			execs, err := Parse([]byte(c.log))
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want one containing %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range execs {
				got = append(got, e.String())
			}
			if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(c.want, "\n"))
			}
		})
	}
}

func clock(sec int64, ms int) string {
	return time.Unix(sec, int64(ms)*int64(time.Millisecond)).Format("15:04:05.000")
}

func TestOverlaps(t *testing.T) {
	at := func(s float64) time.Time {
		return time.Unix(1700000000, 0).Add(time.Duration(s * float64(time.Second)))
	}
	run := func(step string, pid int, start, end float64) Execution {
		e := Execution{Step: step, PID: pid, Start: at(start)}
		if end >= 0 {
			e.End = at(end)
		}
		return e
	}
	gone := func(e Execution, s float64) Execution { e.Gone = at(s); return e }
	now := at(100)
	cases := []struct {
		name  string
		execs []Execution
		want  []time.Duration // For of each overlap found
	}{
		{"one after the other", []Execution{run("m", 1, 0, 3), run("m", 2, 3, 6)}, nil},
		{"different steps at once", []Execution{run("m", 1, 0, 3), run("n", 2, 1, 2)}, nil},
		{"second starts before first ends", []Execution{run("m", 1, 0, 3), run("m", 2, 2, 6)}, []time.Duration{time.Second}},
		{"order in the log does not matter", []Execution{run("m", 2, 2, 6), run("m", 1, 0, 3)}, []time.Duration{time.Second}},
		{"cut short, gone before the rerun", []Execution{gone(run("m", 1, 0, -1), 4), run("m", 2, 5, 8)}, nil},
		{"cut short, alive during the rerun", []Execution{gone(run("m", 1, 0, -1), 6), run("m", 2, 5, 8)}, []time.Duration{time.Second}},
		{"cut short and still running", []Execution{run("m", 1, 0, -1), run("m", 2, 50, 60)}, []time.Duration{10 * time.Second}},
		{"both still running", []Execution{run("m", 1, 0, -1), run("m", 2, 90, -1)}, []time.Duration{10 * time.Second}},
		{"one inside another", []Execution{run("m", 1, 0, 10), run("m", 2, 2, 3)}, []time.Duration{time.Second}},
		{"three at once", []Execution{run("m", 1, 0, 10), run("m", 2, 1, 10), run("m", 3, 2, 10)},
			[]time.Duration{9 * time.Second, 8 * time.Second, 8 * time.Second}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := Overlaps(c.execs, now)
			var fors []time.Duration
			for _, o := range got {
				fors = append(fors, o.For)
			}
			if fmt.Sprint(fors) != fmt.Sprint(c.want) {
				t.Errorf("overlaps %v, want %v:\n%v", fors, c.want, got)
			}
		})
	}
}

// TestWatcherSeesCutShortExecutionGone runs a real process as a step cut
// short (a start line, no end) and kills it: the watcher notes it gone.
func TestWatcherSeesCutShortExecutionGone(t *testing.T) {
	sleep := exec.Command("sleep", "30")
	if err := sleep.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sleep.Process.Kill() })
	path := filepath.Join(t.TempDir(), "executions.log")
	line := fmt.Sprintf("start m %d %d %d.000000000 0\n", sleep.Process.Pid, os.Getpid(), time.Now().Unix())
	if err := os.WriteFile(path, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	w := Watch(context.Background(), path, 5*time.Millisecond)
	defer w.Stop()
	execs, err := w.Executions()
	if err != nil || len(execs) != 1 {
		t.Fatalf("executions %v, %v", execs, err)
	}
	if _, ok := execs[0].Finished(); ok || !Alive(sleep.Process.Pid) {
		t.Fatalf("a running process counts as finished: %v", execs[0])
	}
	killed := time.Now()
	_ = sleep.Process.Kill()
	_ = sleep.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for {
		execs, err = w.Executions()
		if err != nil {
			t.Fatal(err)
		}
		if at, ok := execs[0].Finished(); ok {
			if at.Before(killed) {
				t.Errorf("gone at %v, before it was killed at %v", at, killed)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the watcher never saw the killed process gone: %v", execs[0])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("start m 1 2 3.000000000 0\nproc m 1 4\nend m 1 2 5.000000000\n"))
	f.Add([]byte("start m 1 2 3.000000000 0\nend m"))
	f.Add([]byte("end m 1 2 3.000000000\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		execs, err := Parse(data)
		if err != nil {
			return
		}
		for _, e := range execs {
			if !e.End.IsZero() && e.End.Before(e.Start) {
				t.Fatalf("accepted an execution that ends before it starts: %v", e)
			}
		}
		_ = Overlaps(execs, time.Now())
	})
}
