package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/backout/backout/internal/app"
	"github.com/backout/backout/internal/chat/console"
	"github.com/backout/backout/internal/check"
	"github.com/backout/backout/internal/commands"
	"github.com/backout/backout/internal/config"
	"github.com/backout/backout/internal/incident"
	"github.com/backout/backout/internal/rollback"
	"github.com/backout/backout/internal/runbook"
	boltstore "github.com/backout/backout/internal/store/bolt"
)

// TestExampleCatalogPlansAndDrills proves the shipped catalog works, not
// just that it lints: every service of examples/bot.yaml is planned and
// drilled in dry-run mode, and every release proposed, through the real
// command handlers over the real lifecycle, runbooks and executors. Lint
// once said ok while `/rollback plan checkout` failed on a template.
//
// Only the peers are stood in for: readiness and validation checks measure
// Successful once they have checked their rendered `with:` as the real
// check would, kubectl and helm on PATH are scripts that grant every
// permission, and validation does not wait out its intervals.
func TestExampleCatalogPlansAndDrills(t *testing.T) {
	t.Chdir("../..")
	fakeCLIs(t, "kubectl", "helm")
	t.Setenv("BACKOUT_DEMO_DIR", t.TempDir())
	a, transcript := buildExample(t)
	ctx, cancel := context.WithCancel(context.Background())
	engineDone := make(chan struct{})
	go func() {
		defer close(engineDone)
		_ = a.Svc.Run(ctx)
	}()
	t.Cleanup(func() { cancel(); <-engineDone })
	for _, svc := range a.Config.Services {
		recordHistory(t, a, svc.Name)
	}

	type call struct {
		text string         // after /rollback
		want *regexp.Regexp // the reply when it worked
		as   string         // who asks; "ci" when empty
	}
	var calls []call
	for _, svc := range a.Config.Services {
		calls = append(calls,
			call{"plan " + svc.Name, regexp.MustCompile(`^Plan \(dry run; nothing was proposed or run\):\n` + svc.Name + ` 2\.4\.0 → 2\.3\.0`), ""},
			// A drill now is for the service's owners and approvers.
			call{"drill " + svc.Name + " now", regexp.MustCompile(`^Drill (RB-\d+) of ` + svc.Name + ` (?:started|proposed)`), svc.Owners[0]})
	}
	for _, name := range slices.Sorted(maps.Keys(a.Config.Releases)) {
		calls = append(calls, call{"release " + name + " catalog test", regexp.MustCompile(`^Proposed (RB-\d+) in `), ""})
	}
	for _, c := range calls {
		t.Run(c.text, func(t *testing.T) {
			as := c.as
			if as == "" {
				as = "ci"
			}
			reply := a.Dispatcher.Command(ctx, commands.Invocation{User: as, Source: "console", From: "test", Text: c.text})
			got := reply.Message.Text.String()
			m := c.want.FindStringSubmatch(got)
			if m == nil {
				t.Fatalf("/rollback %s replied:\n%s\nwant a reply matching %s", c.text, got, c.want)
			}
			switch {
			case strings.HasPrefix(c.text, "drill "):
				if r := drive(t, ctx, a, m[1]); r.State != rollback.StateSucceeded {
					t.Errorf("drill %s ended %s: %s\n%s", m[1], r.State, r.Outcome, transcript)
				}
			case strings.HasPrefix(c.text, "release "):
				// Proposed is the point; rejecting it leaves the services
				// free for whatever runs next.
				reply := a.Dispatcher.Command(ctx, commands.Invocation{User: "ci", Source: "console", From: "test", Text: "reject " + m[1] + " test over"})
				if text := reply.Message.Text.String(); strings.Contains(text, "⚠️") {
					t.Errorf("reject %s: %s", m[1], text)
				}
			}
		})
	}
}

// buildExample builds the app as `bot console` does over examples/bot.yaml,
// with every drill in dry-run mode and the checks stood in for.
func buildExample(t *testing.T) (*app.App, *lockedBuffer) {
	t.Helper()
	loaded, err := app.Load(filepath.Join("examples", "bot.yaml"), env(), registries)
	if err != nil {
		t.Fatal(err)
	}
	for i := range loaded.Config.Services {
		s := &loaded.Config.Services[i]
		p := config.DrillPolicy{}
		if s.Drill != nil {
			p = *s.Drill
		}
		p.Mode = "dry-run"
		s.Drill = &p
	}
	loaded.Checkers = stubChecks(t, loaded.Checkers, loaded.Runbooks)
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "state.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	out := &lockedBuffer{}
	return app.Build(loaded, st, app.Options{Poster: console.NewPoster(out), ReplicaID: "test", ChecksClock: instantClock{}}), out
}

// recordHistory records two deploys through the lifecycle: 2.3.0, which
// lived long enough to be known-good, and 2.4.0, the current one. The
// versions satisfy every compatible_with of the example.
func recordHistory(t *testing.T, a *app.App, service string) {
	t.Helper()
	now := a.Svc.Now()
	for _, d := range []struct {
		version string
		at      time.Time
	}{{"2.3.0", now.Add(-48 * time.Hour)}, {"2.4.0", now.Add(-time.Hour)}} {
		sum := sha256.Sum256([]byte(service + "@" + d.version))
		_, failure, err := a.Svc.RecordDeploy(context.Background(), incident.Actor{User: "ci", From: "test"}, incident.DeployInput{
			Service: service, Version: d.version, DeployedBy: "ci", DeployedAt: d.at,
			Artifact:      fmt.Sprintf("registry.example.com/%s@sha256:%s", service, hex.EncodeToString(sum[:])),
			ConfigVersion: "cfg-" + d.version, Commit: hex.EncodeToString(sum[:4]),
		})
		if err != nil || failure != nil {
			t.Fatalf("deploy %s %s: %q, %v", service, d.version, failure, err)
		}
	}
}

// voters are the example's people, tried in turn until a proposal is
// approved or a gate signed; the policy decides whose vote counts.
var voters = []string{"alice", "bob", "carol", "dana", "erin", "frank", "grace"}

// drive takes a drill to its end the way people would: approving while it
// is proposed and signing off any gate it stops at. A blocking readiness
// failure fails the test: the stand-ins leave nothing to block.
func drive(t *testing.T, ctx context.Context, a *app.App, id string) *rollback.Record {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r, err := a.Store.GetRollback(ctx, id)
		if err != nil {
			t.Fatalf("get %s: %v", id, err)
		}
		gateOpen := slices.ContainsFunc(slices.Collect(maps.Values(r.Gates)), func(g rollback.GateState) bool { return !g.Passed })
		switch {
		case r.State.Terminal():
			return r
		case time.Now().After(deadline):
			t.Fatalf("%s still %s after 30s (readiness %+v)", id, r.State, r.Readiness)
		case r.State == rollback.StateApproved && a.Svc.Active() == 0:
			t.Fatalf("%s approved but not started: blocked by readiness %+v", id, r.Readiness)
		case r.State == rollback.StateProposed || (r.State == rollback.StateRunning && gateOpen):
			for _, v := range voters {
				a.Dispatcher.Command(ctx, commands.Invocation{User: v, Source: "console", From: "test", Text: "approve " + id})
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stubChecks stands in for every check the runbooks use. A measurement
// first decodes its rendered `with:` with the real check's strict
// Validate, so a template that renders into nonsense still fails.
func stubChecks(t *testing.T, real *check.Registry, set runbook.Set) *check.Registry {
	t.Helper()
	var stubs []check.Checker
	seen := map[string]bool{}
	for _, name := range set.Names() {
		rb := set[name]
		all := slices.Clone(rb.Readiness)
		if rb.Validation != nil {
			all = append(all, rb.Validation.Checks...)
		}
		for _, c := range all {
			if seen[c.Uses] {
				continue
			}
			seen[c.Uses] = true
			checker, err := real.Get(c.Uses)
			if err != nil {
				t.Fatal(err)
			}
			stubs = append(stubs, passingCheck{checker})
		}
	}
	return check.NewRegistry(stubs...)
}

type passingCheck struct{ check.Checker }

func (p passingCheck) Measure(_ context.Context, req check.Request) (check.Measurement, error) {
	if err := p.Validate(req.With); err != nil {
		return check.Measurement{}, fmt.Errorf("rendered with: %w", err)
	}
	return check.Measurement{Outcome: check.Successful, Message: "stand-in"}, nil
}

// instantClock lets validation take its measurements back to back.
type instantClock struct{}

func (instantClock) Now() time.Time { return time.Now() }

func (instantClock) After(time.Duration) <-chan time.Time {
	c := make(chan time.Time, 1)
	c <- time.Now()
	return c
}

// fakeCLIs puts scripts named names first on PATH that succeed and say
// yes, as `kubectl auth can-i` does when a permission is granted.
func fakeCLIs(t *testing.T, names ...string) {
	t.Helper()
	dir := t.TempDir()
	for _, n := range names {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("#!/bin/sh\necho yes\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
}

// lockedBuffer is the chat transcript, written by the engine's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
