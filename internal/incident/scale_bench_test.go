package incident_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/backout/backout/internal/audit"
	"github.com/backout/backout/internal/incident/incidenttest"
	"github.com/backout/backout/internal/rollback"
	"github.com/backout/backout/internal/store"
	"github.com/backout/backout/internal/store/bolt"
	"github.com/backout/backout/internal/store/redis"
)

// The scale benchmarks measure what a tick, a proposal, the pipeline gate,
// a vote, a registry page and audit verification cost with 1k, 10k and
// 100k finished rollbacks in the store (docs/performance.md has the table
// and the command). Sizes come from BACKOUT_BENCH_SIZES (default 1000),
// so nothing big runs unless asked, and only under -bench.
//
// The history is written straight into the store, not through the API:
// each rollback is one record (50 services, states and triggers in
// cycles) and one audit event. Bolt fills are cached per size in
// $TMPDIR/backout-bench (delete the directory after changing the fill or
// the index layout); Redis fills live under a prefix for the process and
// are deleted when it exits.

const (
	benchSizesEnv = "BACKOUT_BENCH_SIZES"
	// rssChildEnv switches the test binary into the child that measures
	// peak RSS (see BenchmarkScaleRSS).
	rssChildEnv = "BACKOUT_BENCH_RSS_CHILD"
	fillVersion = "f5" // f5: append-ordered buckets filled to 95%
)

func benchSizes(b *testing.B) []int {
	v := os.Getenv(benchSizesEnv)
	if v == "" {
		v = "1000"
	}
	var out []int
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			b.Fatalf("%s=%q: want sizes such as 1000,10000,100000", benchSizesEnv, v)
		}
		out = append(out, n)
	}
	return out
}

// historyServices are the catalog's services and 45 others.
var historyServices = func() []string {
	out := []string{"checkout", "payments", "backend", "vault", "frontend"}
	for i := len(out); i < 50; i++ {
		out = append(out, fmt.Sprintf("svc-%02d", i))
	}
	return out
}()

// historyRecord is finished rollback i of a history, created before T0.
func historyRecord(i, n int) *rollback.Record {
	states := []rollback.State{rollback.StateSucceeded, rollback.StateFailed, rollback.StateRejected, rollback.StateAborted, rollback.StateExpired}
	triggers := []string{"alert", "person", "watcher", "drill"}
	created := T0.Add(-time.Duration(n-i) * time.Minute)
	svc := historyServices[i%len(historyServices)]
	return &rollback.Record{
		ID: fmt.Sprintf("RB-H%d", i), State: states[i%len(states)], Drill: i%4 == 3,
		Trigger:   rollback.Trigger{Kind: triggers[i%4], Source: "pagerduty", IncidentID: fmt.Sprint("P", i), At: created},
		Requester: "U1", Scope: "service", PlanHash: fmt.Sprint("plan-", i),
		Policy:    rollback.Policy{Min: 2, Groups: []string{"sre-leads"}, ForbidSelf: true},
		CreatedAt: created, DecidedAt: created.Add(time.Minute), StartedAt: created.Add(2 * time.Minute), EndedAt: created.Add(10 * time.Minute),
		Outcome: "history",
		Services: []rollback.ServiceChange{{Service: svc, Current: rollback.Release{Version: "v2"}, Target: rollback.Release{Version: "v1"},
			Runbook: "steps", Steps: []rollback.PlannedStep{{ID: "apply", Title: "Apply", Uses: "fake"}}}},
	}
}

// fillHistory writes n finished rollbacks and n audit events, the records
// from several writers at once.
func fillHistory(ctx context.Context, st store.Store, n, writers int) error {
	errs := make(chan error, writers+1)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := w; i < n; i += writers {
				if err := st.CreateRollback(ctx, historyRecord(i, n)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Go(func() {
		for i := range n {
			if _, err := st.AppendAudit(ctx, store.AuditEvent{Actor: "U1", Action: "rollback.ended", Target: fmt.Sprintf("RB-H%d", i), At: T0}); err != nil {
				errs <- err
				return
			}
		}
	})
	wg.Wait()
	close(errs)
	return <-errs
}

// boltHistory returns the path of a cached bolt file holding n finished
// rollbacks, filling it the first time.
func boltHistory(b *testing.B, n int) string {
	dir := filepath.Join(os.TempDir(), "backout-bench")
	path := filepath.Join(dir, fmt.Sprintf("bolt-%d-%s.db", n, fillVersion))
	if _, err := os.Stat(path); err == nil {
		return path
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	tmp := path + ".tmp"
	_ = os.Remove(tmp)
	st, err := bolt.Open(tmp, bolt.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	err = fillHistory(b.Context(), st, n, 1)
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		b.Fatalf("fill %s: %v", tmp, err)
	}
	b.Logf("filled %s with %d rollbacks in %s", path, n, time.Since(start).Round(time.Millisecond))
	if err := os.Rename(tmp, path); err != nil {
		b.Fatal(err)
	}
	return path
}

func copyFile(dst, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	// The copy goes to disk before the store opens it: otherwise the first
	// commit's fdatasync writes back the whole file (235 MB at 100k), and
	// a short run charges that to the operation being measured.
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// scaleStore is one filled store, kept for the process so that -count
// repeats do not fill again.
type scaleStore struct {
	st     store.Store
	n      int
	where  string // bolt: the file; redis: the key prefix
	closer func()
}

var (
	scaleMu     sync.Mutex
	scaleStores = map[string]*scaleStore{}
)

// closeScaleStores closes the stores and deletes the Redis fills; TestMain
// calls it when the benchmarks are done.
func closeScaleStores() {
	scaleMu.Lock()
	defer scaleMu.Unlock()
	for k, s := range scaleStores {
		s.closer()
		delete(scaleStores, k)
	}
}

// filledStore opens a store of kind holding n finished rollbacks. A bolt
// store is a fresh copy of the cached file for each call (each -count
// round), closed when b ends, so what one round wrote does not grow the
// next round's history; a Redis fill is made once per process and kept.
func filledStore(b *testing.B, kind string, n int) *scaleStore {
	if kind == "bolt" {
		dir := b.TempDir()
		path := filepath.Join(dir, "state.db")
		if err := copyFile(path, boltHistory(b, n)); err != nil {
			b.Fatal(err)
		}
		st, err := bolt.Open(path, bolt.Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = st.Close() })
		return &scaleStore{st: st, n: n, where: path, closer: func() {}}
	}
	scaleMu.Lock()
	defer scaleMu.Unlock()
	key := fmt.Sprint(kind, "/", n)
	if s := scaleStores[key]; s != nil {
		return s
	}
	s := redisHistory(b, n)
	scaleStores[key] = s
	return s
}

// redisHistory fills a fresh prefix of the shared server.
func redisHistory(b *testing.B, n int) *scaleStore {
	var r [6]byte
	_, _ = rand.Read(r[:])
	prefix := fmt.Sprintf("backout-bench-%d-%s:", n, hex.EncodeToString(r[:]))
	st, err := redis.Open(b.Context(), redis.Options{URL: "redis://" + redisAddr(), Password: os.Getenv("REDIS_PASSWORD"), Prefix: prefix})
	if err != nil {
		if os.Getenv("CI") == "true" {
			b.Fatalf("redis at %s: %v", redisAddr(), err)
		}
		b.Skipf("redis at %s unreachable: %v", redisAddr(), err)
	}
	start := time.Now()
	if err := fillHistory(b.Context(), st, n, 32); err != nil {
		b.Fatalf("fill %s: %v", prefix, err)
	}
	b.Logf("filled redis %s with %d rollbacks in %s", prefix, n, time.Since(start).Round(time.Millisecond))
	return &scaleStore{st: st, n: n, where: prefix, closer: func() {
		_ = st.Close()
		deleteRedisPrefix(prefix)
	}}
}

func deleteRedisPrefix(prefix string) {
	c := goredis.NewClient(&goredis.Options{Addr: redisAddr(), Password: os.Getenv("REDIS_PASSWORD")})
	defer c.Close()
	ctx := context.Background()
	iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	var keys []string
	for iter.Next(ctx) {
		if keys = append(keys, iter.Val()); len(keys) == 1000 {
			c.Unlink(ctx, keys...)
			keys = keys[:0]
		}
	}
	if len(keys) > 0 {
		c.Unlink(ctx, keys...)
	}
}

// scaleEnv is a Service over a filled store, with the deploys a proposal
// of checkout needs and two open proposals for the tick to look at.
func scaleEnv(b *testing.B, be backend, s *scaleStore) *env {
	clk := incidenttest.NewClock(T0)
	e := newEnvOn(b, be, s.st, clk, setup{})
	e.deploy("checkout", "1.0.0", "1.1.0")
	for _, svc := range []string{"payments", "vault"} {
		e.deploy(svc, "1.0.0", "1.1.0")
	}
	return e
}

// proposeAndReject makes one proposal of checkout and rejects it; the
// meter runs only around what timed says, and runs again at the end.
func (e *env) proposeAndReject(b *testing.B, m *meter, timePropose, timeVote bool) {
	m.stop()
	if timePropose {
		m.start()
	}
	r := e.propose(checkout())
	m.stop()
	if timeVote {
		m.start()
	}
	e.approve(r.ID, "alice") // one of two: no run starts
	m.stop()
	if failure := e.vote("bob", r.ID, false); failure != "" {
		b.Fatalf("reject %s: %s", r.ID, failure)
	}
	m.start()
}

// meter adds to the benchmark timer what the timed part of an operation
// costs in CPU (steadier than wall time on a shared machine; it leaves out
// what a Redis server spends) and, on bolt, in disk writes (which do not
// depend on the machine's load at all).
type meter struct {
	b       *testing.B
	disk    interface{ DiskWrites() (pages, bytes int64) } // nil on Redis
	running bool
	cpu     time.Duration
	pages   int64
	bytes   int64
	// where the running stretch began
	cpu0           time.Duration
	pages0, bytes0 int64
}

func newMeter(b *testing.B, st store.Store) *meter {
	m := &meter{b: b}
	m.disk, _ = st.(interface{ DiskWrites() (pages, bytes int64) })
	return m
}

func (m *meter) start() {
	if m.running {
		return
	}
	m.running = true
	m.b.StartTimer()
	m.cpu0 = cpuTime()
	if m.disk != nil {
		m.pages0, m.bytes0 = m.disk.DiskWrites()
	}
}

func (m *meter) stop() {
	if !m.running {
		return
	}
	m.running = false
	m.cpu += cpuTime() - m.cpu0
	if m.disk != nil {
		pages, bytes := m.disk.DiskWrites()
		m.pages, m.bytes = m.pages+pages-m.pages0, m.bytes+bytes-m.bytes0
	}
	m.b.StopTimer()
}

func (m *meter) report() {
	n := float64(m.b.N)
	m.b.ReportMetric(float64(m.cpu.Nanoseconds())/n, "cpu-ns/op")
	if m.disk != nil {
		m.b.ReportMetric(float64(m.pages)/n, "pages-written/op")
		m.b.ReportMetric(float64(m.bytes)/1024/n, "KiB-written/op")
	}
}

// warmups is how many untimed runs of an operation come before the timed
// loop: the first runs on a freshly copied file fault its pages in and
// may remap it, a cost a serving process pays once, not per operation.
const warmups = 20

// BenchmarkScale runs each operation against each size on both stores:
// BenchmarkScale/<store>/n=<size>/<operation>.
func BenchmarkScale(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			for _, n := range benchSizes(b) {
				b.Run(fmt.Sprint("n=", n), func(b *testing.B) { benchOperations(b, be, filledStore(b, be.name, n)) })
			}
		})
	}
}

func benchOperations(b *testing.B, be backend, s *scaleStore) {
	e := scaleEnv(b, be, s)
	ctx := context.Background()
	verifier := audit.Verifier{Log: s.st, Checkpoints: s.st}
	ops := []struct {
		name  string
		fn    func(b *testing.B, m *meter)
		setup func(b *testing.B) // untimed, before the loop
	}{
		{"tick", func(*testing.B, *meter) { e.svc.Tick(ctx) }, nil},
		{"propose", func(b *testing.B, m *meter) { e.proposeAndReject(b, m, true, false) }, nil},
		{"gate", func(b *testing.B, _ *meter) {
			if res, failure, err := e.svc.PipelineGate(ctx, "frontend"); err != nil || failure != nil || !res.Open {
				b.Fatalf("gate: %+v %q %v", res, failure, err)
			}
		}, nil},
		{"vote", func(b *testing.B, m *meter) { e.proposeAndReject(b, m, false, true) }, nil},
		{"status", func(b *testing.B, _ *meter) {
			if _, err := e.svc.OpenRollbacks(ctx); err != nil {
				b.Fatal(err)
			}
		}, nil},
		{"registry_page", func(b *testing.B, _ *meter) {
			if rs, err := e.svc.Rollbacks(ctx, store.RollbackQuery{Limit: 100}); err != nil || len(rs) != 100 {
				b.Fatalf("first page: %d, %v", len(rs), err)
			}
		}, nil},
		{"registry_page_service", func(b *testing.B, _ *meter) {
			// svc-07's history is all rejected (i ≡ 7 mod 50, so i ≡ 2 mod 5):
			// 20 at the smallest size, so a page of 20 is the same work at all.
			q := store.RollbackQuery{Service: "svc-07", States: []rollback.State{rollback.StateRejected}, Limit: 20}
			if rs, err := e.svc.Rollbacks(ctx, q); err != nil || len(rs) != min(20, s.n/50) {
				b.Fatalf("a service's rejections: %d, %v", len(rs), err)
			}
		}, nil},
		{"audit_verify_resume", func(b *testing.B, _ *meter) {
			if _, err := verifier.VerifyNew(ctx, nil); err != nil {
				b.Fatal(err)
			}
		}, func(b *testing.B) {
			// A full verification leaves the checkpoint the loop resumes from.
			if _, err := verifier.Verify(ctx, nil); err != nil {
				b.Fatal(err)
			}
		}},
		{"audit_verify_full", func(b *testing.B, _ *meter) {
			if _, err := verifier.Verify(ctx, nil); err != nil {
				b.Fatal(err)
			}
		}, nil},
	}
	for _, op := range ops {
		b.Run(op.name, func(b *testing.B) {
			if op.setup != nil {
				op.setup(b)
			}
			warm := newMeter(b, s.st)
			for range warmups {
				op.fn(b, warm)
			}
			b.ReportAllocs()
			m := newMeter(b, s.st)
			m.start()
			for b.Loop() {
				op.fn(b, m)
			}
			m.stop()
			m.report()
		})
	}
}

// cpuTime is the user and system time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkScaleRSS reports the peak RSS of a separate process that opens
// a filled store, builds the lifecycle and runs every operation above a
// few times (a full audit verification last): what a serving process
// holds, apart from the fill. It also reports, at the end, the anonymous
// part (Go heap, stacks) and the file-backed part (bolt's mapped pages,
// which the kernel may drop) from /proc/self/status.
func BenchmarkScaleRSS(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			for _, n := range benchSizes(b) {
				b.Run(fmt.Sprint("n=", n), func(b *testing.B) {
					where := childStore(b, be.name, n)
					var peak, anon, file, verifyPeak float64
					for b.Loop() {
						cmd := exec.Command(os.Args[0], "-test.run=^$")
						cmd.Env = append(os.Environ(), rssChildEnv+"="+be.name+"|"+where)
						out, err := cmd.CombinedOutput()
						if err != nil {
							b.Fatalf("child: %v\n%s", err, out)
						}
						got := map[string]float64{}
						for _, f := range []string{"VmHWM:", "RssAnon:", "RssFile:", "VerifyVmHWM:"} {
							_, rest, ok := strings.Cut(string(out), f)
							v, err := strconv.ParseFloat(strings.Fields(rest + " x")[0], 64)
							if !ok || err != nil {
								b.Fatalf("child said %q", out)
							}
							got[f] = v / 1024
						}
						peak, anon, file = max(peak, got["VmHWM:"]), max(anon, got["RssAnon:"]), max(file, got["RssFile:"])
						verifyPeak = max(verifyPeak, got["VerifyVmHWM:"])
					}
					b.ReportMetric(peak, "peak-RSS-MB")
					b.ReportMetric(anon, "anon-RSS-MB")
					b.ReportMetric(file, "file-RSS-MB")
					b.ReportMetric(verifyPeak, "verify-peak-RSS-MB")
				})
			}
		})
	}
}

// childStore is where the RSS child finds its history: a copy of the
// cached bolt file (this process may hold the other open), or the
// process's Redis fill.
func childStore(b *testing.B, kind string, n int) string {
	if kind != "bolt" {
		return filledStore(b, kind, n).where
	}
	path := filepath.Join(b.TempDir(), "state.db")
	if err := copyFile(path, boltHistory(b, n)); err != nil {
		b.Fatal(err)
	}
	return path
}

// rssChild is the child of BenchmarkScaleRSS: it serves the operations
// and prints its peak RSS.
func rssChild(spec string) int {
	kind, where, _ := strings.Cut(spec, "|")
	ctx := context.Background()
	var st store.Store
	var err error
	if kind == "bolt" {
		st, err = bolt.Open(where, bolt.Options{Timeout: 10 * time.Second})
	} else {
		st, err = redis.Open(ctx, redis.Options{URL: "redis://" + redisAddr(), Password: os.Getenv("REDIS_PASSWORD"), Prefix: where})
	}
	if err != nil {
		fmt.Println("open:", err)
		return 1
	}
	defer st.Close()
	b := &testing.B{}
	be := backends[0]
	if kind != "bolt" {
		be = backends[1]
	}
	e := scaleEnv(b, be, &scaleStore{st: st})
	for range 20 {
		e.svc.Tick(ctx)
		if _, _, err := e.svc.PipelineGate(ctx, "frontend"); err != nil {
			fmt.Println("gate:", err)
			return 1
		}
		if _, err := e.svc.Rollbacks(ctx, store.RollbackQuery{Limit: 100}); err != nil {
			fmt.Println("page:", err)
			return 1
		}
		e.proposeAndReject(b, newMeter(b, st), false, false)
	}
	// VmHWM is the peak RSS of the work a serving replica does; RssAnon
	// (heap and stacks) and RssFile (the bolt file's pages mapped in) are
	// after it. A full audit verification reads the whole log by
	// definition, so its peak is reported apart (VerifyVmHWM).
	if !printStatus("") {
		return 1
	}
	if _, err := (audit.Verifier{Log: st}).Verify(ctx, nil); err != nil {
		fmt.Println("verify:", err)
		return 1
	}
	if !printStatus("Verify") {
		return 1
	}
	return 0
}

// printStatus prints the peak and current RSS lines of /proc/self/status,
// each name prefixed.
func printStatus(prefix string) bool {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		fmt.Println("status:", err)
		return false
	}
	for _, line := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(line, "VmHWM:") || strings.HasPrefix(line, "RssAnon:") || strings.HasPrefix(line, "RssFile:") {
			fmt.Println(prefix + line)
		}
	}
	return true
}
