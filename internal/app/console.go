package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"time"

	"github.com/backout/backout/internal/chat/console"
	"github.com/backout/backout/internal/config"
	"github.com/backout/backout/internal/incident"
	"github.com/backout/backout/internal/rollback"
	"github.com/backout/backout/internal/store"
	"github.com/backout/backout/internal/yamlx"
)

// consoleBackend implements console.Backend over the lifecycle.
type consoleBackend struct {
	app       *App
	incidents int
}

// Alert simulates a PagerDuty incident.triggered for a service. A trailing
// age ("10m") says the incident opened that long ago, as a page that took
// a while to reach Backout does.
func (b *consoleBackend) Alert(ctx context.Context, serviceAndAge string) error {
	service, age, err := splitAge(serviceAndAge)
	if err != nil {
		return err
	}
	if failure := b.app.Svc.UnknownService(service); failure != nil {
		return fmt.Errorf("%s", failure)
	}
	b.incidents++
	return b.app.Svc.OnAlert(ctx, incident.Alert{
		Source: "pagerduty", Kind: incident.AlertTriggered, Service: service,
		IncidentID: fmt.Sprintf("Q0CONSOLE%d", b.incidents), Summary: "High error rate on " + service + " (simulated)",
		URL: "https://example.pagerduty.com/incidents/Q0CONSOLE" + fmt.Sprint(b.incidents), Urgency: "high", At: b.app.Svc.Now().Add(-age),
	})
}

// Deploy records a deploy with a digest-pinned artifact derived from the version.
// A trailing age ("3h") backdates it.
func (b *consoleBackend) Deploy(ctx context.Context, user, service, versionAndAge string) error {
	version, age, err := splitAge(versionAndAge)
	if err != nil {
		return err
	}
	sum := sha256.Sum256([]byte(service + "@" + version))
	in := incident.DeployInput{Service: service, Version: version, DeployedBy: user,
		Artifact:      fmt.Sprintf("registry.example.com/%s@sha256:%s", service, hex.EncodeToString(sum[:])),
		ConfigVersion: "cfg-" + version, Commit: hex.EncodeToString(sum[:4])}
	if age > 0 {
		in.DeployedAt = b.app.Svc.Now().Add(-age)
	}
	d, failure, err := b.app.Svc.RecordDeploy(ctx, incident.Actor{User: user, From: "console"}, in)
	if err != nil {
		return err
	}
	if failure != nil {
		return fmt.Errorf("%s", failure)
	}
	b.app.Poster.(*console.Poster).Say("(CI recorded deploy %s: %s %s, %s)", d.ID, d.Service, d.Version, d.At.UTC().Format(time.RFC3339))
	return nil
}

// splitAge reads "<word> [age]" as the console's alert and deploy take it:
// a trailing duration after the last space, else no age.
func splitAge(s string) (string, time.Duration, error) {
	word, a, ok := cutLast(s)
	if !ok {
		return s, 0, nil
	}
	d, err := yamlx.ParseDuration(a)
	if err != nil {
		return "", 0, fmt.Errorf("age %q: %w", a, err)
	}
	return word, d, nil
}

func cutLast(s string) (string, string, bool) {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == ' ' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// Wait blocks until no rollback is being driven and none is approved and
// about to start.
func (b *consoleBackend) Wait(ctx context.Context) error {
	for {
		busy := b.app.Svc.Active() > 0
		if !busy {
			rs, err := b.app.Store.ListRollbacks(ctx, store.RollbackQuery{States: []rollback.State{rollback.StateRunning, rollback.StateValidating}})
			if err != nil {
				return err
			}
			busy = len(rs) > 0
		}
		if !busy {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// DemoURLParam is the runbook param the console points at its demo
// service (runbooks/local-demo.yaml declares it).
const DemoURLParam = "demo_url"

// ConsoleDemo is what `bot console` sets up around the app for the bundled
// demo. Only the console asks for it, so `bot serve` never starts a demo
// service nor runs with a config other than the one it was given.
type ConsoleDemo struct {
	// Dir is $BACKOUT_DEMO_DIR, where demo.sh keeps each service's files.
	Dir string
	// OutputEvery, when shorter, replaces engine.output_every: a terminal
	// has no chat.update rate limit to respect, and the demo's steps last
	// seconds, not minutes, so their live output would otherwise never show.
	OutputEvery time.Duration
}

// StartDemo starts the demo HTTP service over d.Dir and sets DemoURLParam,
// to that service's URL, for every service whose runbook declares the
// param and whose bot.yaml params leave it unset (a value there wins). A
// param is how a check's `with:` learns a URL today; nothing else changes.
// Call it before Build; close the service when the console ends.
func (l *Loaded) StartDemo(d ConsoleDemo) (*DemoService, error) {
	svc, err := StartDemoService(d.Dir)
	if err != nil {
		return nil, err
	}
	for i := range l.Config.Services {
		s := &l.Config.Services[i]
		rb, ok := l.Runbooks[s.Runbook]
		if !ok {
			continue
		}
		if _, declared := rb.Params[DemoURLParam]; !declared {
			continue
		}
		if _, set := s.Params[DemoURLParam]; set {
			continue
		}
		if s.Params == nil {
			s.Params = map[string]string{}
		}
		s.Params[DemoURLParam] = svc.ServiceURL(s.Name)
	}
	if d.OutputEvery > 0 && d.OutputEvery < l.Config.Engine.OutputEvery.D() {
		l.Config.Engine.OutputEvery = config.Duration(d.OutputEvery)
	}
	return svc, nil
}

// ConsoleOptions say who types where, and how the console shows it.
type ConsoleOptions struct {
	User    string
	Channel string
	// Echo prints each input line: scripted input, for a readable transcript.
	Echo bool
	// Prompt shows "user@#channel> ": a person typing at a terminal.
	Prompt bool
}

// RunConsole drives the app from a terminal or a script.
func (a *App) RunConsole(ctx context.Context, in io.Reader, opts ConsoleOptions) error {
	poster, ok := a.Poster.(*console.Poster)
	if !ok {
		return fmt.Errorf("console needs a console poster")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	engineDone := make(chan struct{})
	go func() {
		defer close(engineDone)
		_ = a.Svc.Run(ctx)
	}()
	repl := &console.REPL{Handler: a.Dispatcher, Backend: &consoleBackend{app: a}, Records: a.Svc, Postmortems: a.Postmortems,
		Poster: poster, Channel: opts.Channel, User: opts.User, Echo: opts.Echo, Prompt: opts.Prompt}
	err := repl.Run(ctx, in)
	cancel()
	<-engineDone
	return err
}
