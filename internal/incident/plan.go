package incident

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/backout/backout/internal/config"
	"github.com/backout/backout/internal/exec"
	"github.com/backout/backout/internal/rollback"
	"github.com/backout/backout/internal/runbook"
	"github.com/backout/backout/internal/steprequest"
	"github.com/backout/backout/internal/version"
)

// PlanRequest asks for the plan of a rollback.
type PlanRequest struct {
	Services  []string
	Release   string
	Version   string // only with one service
	Drill     bool
	DrillMode string
	Rollback  runbook.RollbackInfo
}

// scopeServices resolves the services a request covers.
func (s *Planner) scopeServices(req PlanRequest) ([]string, string, rollback.Words) {
	if req.Release != "" {
		members, ok := s.cfg.Releases[req.Release]
		if !ok {
			names := slices.Sorted(maps.Keys(s.cfg.Releases))
			return nil, "", rollback.Sayf("Unknown release %q. Known releases: %s.", req.Release, strings.Join(names, ", "))
		}
		return members, "release", nil
	}
	if len(req.Services) == 0 {
		return nil, "", rollback.Say("Name a service.")
	}
	seen := map[string]bool{}
	for _, name := range req.Services {
		if seen[name] {
			return nil, "", rollback.Sayf("%s is named twice.", name)
		}
		seen[name] = true
		if _, failure := s.service(name); failure != nil {
			return nil, "", failure
		}
	}
	if len(req.Services) > 1 {
		if req.Version != "" {
			return nil, "", rollback.Say(rollback.Code("to <version>"), " applies to one service; propose the others separately or use a release.")
		}
		return req.Services, "services", nil
	}
	return req.Services, "service", nil
}

// Plan builds the plan of a rollback without storing anything. The failure
// is for the person who asked; err is a system fault.
func (s *Planner) Plan(ctx context.Context, req PlanRequest) ([]rollback.ServiceChange, string, rollback.Words, error) {
	names, scope, failure := s.scopeServices(req)
	if failure != nil {
		return nil, "", failure, nil
	}
	levels, failure := s.levels(names)
	if failure != nil {
		return nil, "", failure, nil
	}
	var changes []rollback.ServiceChange
	for _, name := range names {
		svc, _ := s.cfg.ServiceByName(name)
		cur, target, failure, err := s.history.targets(ctx, name, req.Version, svc.StableAfter.D())
		if err == nil && failure != nil && req.Drill && req.Version == "" && cur.Version != "" {
			// A drill exercises the mechanics: with nothing known-good to go
			// back to, it re-installs the current release.
			target, failure = cur, nil
		}
		if err != nil || failure != nil {
			return nil, "", failure, err
		}
		change, failure, err := s.planService(ctx, svc, cur, target, levels[name], req)
		if err != nil || failure != nil {
			return nil, "", failure, err
		}
		changes = append(changes, change)
	}
	sort.SliceStable(changes, func(i, j int) bool { return changes[i].Level < changes[j].Level })
	if failure := s.checkCompatibility(changes); failure != nil {
		return nil, "", failure, nil
	}
	if failure := s.checkDataRules(changes); failure != nil {
		return nil, "", failure, nil
	}
	return changes, scope, nil, nil
}

// levels orders services in scope: a service's level is one more than the
// highest level of the in-scope services it depends on.
func (s *Planner) levels(names []string) (map[string]int, rollback.Words) {
	in := map[string]bool{}
	for _, n := range names {
		in[n] = true
	}
	levels := map[string]int{}
	var visit func(string, []string) (int, string)
	visit = func(n string, path []string) (int, string) {
		if slices.Contains(path, n) {
			return 0, "services depend on each other in a cycle: " + strings.Join(append(path, n), " -> ")
		}
		if l, ok := levels[n]; ok {
			return l, ""
		}
		svc, _ := s.cfg.ServiceByName(n)
		level := 0
		for _, d := range svc.DependsOn {
			if !in[d] {
				continue
			}
			l, failure := visit(d, append(path, n))
			if failure != "" {
				return 0, failure
			}
			level = max(level, l+1)
		}
		levels[n] = level
		return level, ""
	}
	for _, n := range names {
		if _, failure := visit(n, nil); failure != "" {
			return nil, rollback.Say(failure)
		}
	}
	return levels, nil
}

// checkCompatibility refuses an order in which a service would talk to a
// peer version it declared incompatible: while peer P is back at its target
// and service X has not gone back (or never will), X's constraint on P must
// hold.
func (s *Planner) checkCompatibility(changes []rollback.ServiceChange) rollback.Words {
	byName := map[string]rollback.ServiceChange{}
	for _, c := range changes {
		byName[c.Service] = c
	}
	var problems []string
	for _, x := range s.cfg.Services {
		for _, peer := range slices.Sorted(maps.Keys(x.CompatibleWith)) {
			p, inScope := byName[peer]
			if !inScope || peer == x.Name {
				continue
			}
			if xc, xIn := byName[x.Name]; xIn && xc.Level <= p.Level {
				continue // x goes back first or together; its old requirements are its own
			}
			cons, err := version.ParseConstraint(x.CompatibleWith[peer])
			if err != nil {
				continue // lint reports it
			}
			v, err := version.Parse(p.Target.Version)
			if err != nil {
				problems = append(problems, fmt.Sprintf("cannot compare %s version %q with %s's constraint %s", peer, p.Target.Version, x.Name, cons))
				continue
			}
			if !cons.Allows(v) {
				when := "stays on its current version"
				if _, xIn := byName[x.Name]; xIn {
					when = "goes back only after it"
				}
				problems = append(problems, fmt.Sprintf("%s needs %s %s, but the plan takes %s to %s while %s %s",
					x.Name, peer, cons, peer, p.Target.Version, x.Name, when))
			}
		}
	}
	if len(problems) == 0 {
		return nil
	}
	return rollback.Say("Refused: this order would break a compatibility constraint:\n• " + strings.Join(problems, "\n• ") +
		"\nInclude the dependent service in the rollback, or choose a target version that satisfies it.")
}

// params resolves a service's runbook params as lint does (one function,
// runbook.ResolveParams, so a catalog that lints also plans), and turns a
// missing required one into what the person who asked must fix.
func (s *Planner) params(rb *runbook.Runbook, svc *config.Service, drill bool) (map[string]string, rollback.Words) {
	params, missing := runbook.ResolveParams(rb, svc, drill)
	if len(missing) > 0 {
		name := missing[0]
		return nil, rollback.Sayf("Runbook %s needs param %q for %s: set services.%s.params.%s in the config.", rb.Name, name, svc.Name, svc.Name, name)
	}
	return params, nil
}

// templateContext builds what a service's runbook templates see: the part
// the catalog decides comes from runbook.ServiceContext, which lint renders
// with too; the releases and the rollback are this change's.
func (s *Planner) templateContext(svc *config.Service, c rollback.ServiceChange, rb runbook.RollbackInfo, drill bool, drillMode string) runbook.Context {
	rel := func(r rollback.Release) runbook.Release {
		return runbook.Release{Version: r.Version, Artifact: r.Artifact, ConfigVersion: r.ConfigVersion, Commit: r.Commit}
	}
	ctx := runbook.ServiceContext(svc, c.Params, drill, drillMode)
	ctx.Target, ctx.Current, ctx.Rollback = rel(c.Target), rel(c.Current), rb
	return ctx
}

func (s *Planner) planService(ctx context.Context, svc *config.Service, cur, target rollback.Release, level int, req PlanRequest) (rollback.ServiceChange, rollback.Words, error) {
	rb, ok := s.runbooks[svc.Runbook]
	if !ok {
		return rollback.ServiceChange{}, rollback.Say(fmt.Sprintf("Runbook %q of %s is not loaded; run ", svc.Runbook, svc.Name), rollback.Code("bot lint"), "."), nil
	}
	params, failure := s.params(rb, svc, req.Drill)
	if failure != nil {
		return rollback.ServiceChange{}, failure, nil
	}
	change := rollback.ServiceChange{Service: svc.Name, Current: cur, Target: target, Runbook: rb.Name,
		Params: params, Level: level, DependsOn: svc.DependsOn}
	tctx := s.templateContext(svc, change, req.Rollback, req.Drill, req.DrillMode)
	for _, st := range rb.Steps {
		ps := rollback.PlannedStep{ID: st.ID, Title: st.Title(), Uses: st.Uses, Needs: st.Needs, Idempotent: st.Idempotent}
		if st.Gate != nil {
			ps.Gate = st.Gate.Group
		}
		if st.If != "" {
			v, err := runbook.Render(st.If, tctx)
			if err != nil {
				return rollback.ServiceChange{}, rollback.Sayf("Step %s of runbook %s: %v", st.ID, rb.Name, err), nil
			}
			ps.Skipped = !runbook.Truthy(v)
		}
		if st.Uses != "" {
			preview, failure := s.preview(ctx, rb, st, tctx)
			if failure != nil {
				return rollback.ServiceChange{}, failure, nil
			}
			ps.Preview = preview
		}
		change.Steps = append(change.Steps, ps)
	}
	return change, nil, nil
}

func (s *Planner) preview(ctx context.Context, rb *runbook.Runbook, st runbook.Step, tctx runbook.Context) (string, rollback.Words) {
	ex, err := s.executors.Get(st.Uses)
	if err != nil {
		return "", rollback.Sayf("Step %s: %v", st.ID, err)
	}
	req, err := s.requests.Build(steprequest.Input{Purpose: steprequest.Preview, StepID: st.ID,
		Action: st.Action(), Context: tctx, DryRun: steprequest.DryRun(rb, tctx.Drill)})
	if err != nil {
		return "", rollback.Sayf("Step %s: %v", st.ID, err)
	}
	p, err := ex.Preview(ctx, req)
	if err != nil {
		return "", rollback.Sayf("Step %s cannot be previewed: %v", st.ID, err)
	}
	return exec.Redact(p, req.Redact), nil
}

// PlanHash fingerprints a plan: any change to it voids earlier votes.
func PlanHash(changes []rollback.ServiceChange) string {
	b, _ := json.Marshal(changes) // plain data: cannot fail
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}
