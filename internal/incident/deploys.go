package incident

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/backout/backout/internal/authz"
	"github.com/backout/backout/internal/human"
	"github.com/backout/backout/internal/rollback"
	"github.com/backout/backout/internal/store"
)

// immutableArtifact matches references that cannot change under us: an image
// pinned by digest, or a chart at a numbered revision ("chart@rev:12").
var immutableArtifact = regexp.MustCompile(`@sha256:[a-f0-9]{64}$|@rev:\d+$`)

// IsImmutable reports whether an artifact reference is pinned.
func IsImmutable(artifact string) bool { return immutableArtifact.MatchString(artifact) }

// DeployInput is what CI reports.
type DeployInput struct {
	Service       string `json:"service"`
	Version       string `json:"version"`
	Artifact      string `json:"artifact"`
	ConfigVersion string `json:"config_version"`
	Environment   string `json:"environment"`
	Commit        string `json:"commit"`
	DeployedBy    string `json:"deployed_by"`
	URL           string `json:"url"`
	Risk          string `json:"risk"`
	// DeployedAt backdates a deploy (CI backfill, demos); zero means now.
	DeployedAt time.Time `json:"deployed_at"`
}

// RecordDeploy stores a deploy. The failure string is for the caller (400);
// err is a system fault (503).
func (s *Deploys) RecordDeploy(ctx context.Context, who Actor, in DeployInput) (*rollback.Deploy, rollback.Words, error) {
	svc, failure := s.service(in.Service)
	if failure != nil {
		return nil, failure, nil
	}
	if failure := checkDeployRefs(in); failure != nil {
		return nil, failure, nil
	}
	if !validRisk(in.Risk) {
		return nil, rollback.Sayf("risk: unknown value %q (want low, medium or high)", in.Risk), nil
	}
	at := s.clock.Now()
	if !in.DeployedAt.IsZero() {
		if in.DeployedAt.After(at.Add(time.Minute)) {
			return nil, rollback.Say("deployed_at is in the future"), nil
		}
		at = in.DeployedAt
	}
	env := in.Environment
	if env == "" {
		env = svc.Environment
	}
	d := &rollback.Deploy{
		Service: in.Service, Version: in.Version, Artifact: in.Artifact, ConfigVersion: in.ConfigVersion,
		Environment: env, Commit: in.Commit, DeployedBy: in.DeployedBy, URL: in.URL, Risk: in.Risk,
		At: at, Mutable: !IsImmutable(in.Artifact),
	}
	if err := s.flagUnproven(ctx, d); err != nil {
		return nil, nil, err
	}
	detail := map[string]string{"version": d.Version, "artifact": d.Artifact}
	if len(d.Unproven) > 0 {
		detail["rollback_unproven"] = strings.Join(d.Unproven, "; ")
	}
	if refusal := s.auditFirst(ctx, who, "deploy.recorded", d.Service, detail); refusal != nil {
		return nil, refusal, nil
	}
	if err := s.store.AddDeploy(ctx, d); err != nil {
		return nil, nil, fmt.Errorf("record deploy: %w", err)
	}
	s.replanner.replanOpen(ctx, d.Service)
	return d, nil, nil
}

// checkDeployRefs refuses a deploy without a version or artifact, or with
// whitespace in either: a version is named as one word (`propose SERVICE
// to VERSION`), so one holding a space could never be rolled back to by
// name, and an artifact is a single reference a step passes on as one
// argument. A blank one is as missing as an empty one.
func checkDeployRefs(in DeployInput) rollback.Words {
	var missing []string
	for _, f := range []struct{ name, value string }{{"version", in.Version}, {"artifact", in.Artifact}} {
		if strings.TrimSpace(f.value) == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return rollback.Sayf("missing required field(s): %s", strings.Join(missing, ", "))
	}
	for _, f := range []struct{ name, value string }{{"version", in.Version}, {"artifact", in.Artifact}} {
		if strings.ContainsFunc(f.value, unicode.IsSpace) {
			return rollback.Sayf("%s: one word without spaces, as a command names it; got %q", f.name, f.value)
		}
	}
	return nil
}

// MarkGood marks a deploy known-good by hand.
func (s *Deploys) MarkGood(ctx context.Context, who Actor, id string) (*rollback.Deploy, rollback.Words, error) {
	d, err := s.store.GetDeploy(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, rollback.Sayf("no deploy %q", id), nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("get deploy: %w", err)
	}
	if refusal := s.auditFirst(ctx, who, "deploy.marked_good", d.Service, map[string]string{"id": id, "version": d.Version}); refusal != nil {
		return nil, refusal, nil
	}
	d.Good, d.GoodAt = true, s.clock.Now()
	if err := s.store.PutDeploy(ctx, d); err != nil {
		return nil, nil, fmt.Errorf("mark deploy good: %w", err)
	}
	return d, nil, nil
}

// Deploys lists a service's deploys, newest first.
func (s *deployLog) Deploys(ctx context.Context, service string, limit int) ([]*rollback.Deploy, error) {
	return s.store.ListDeploys(ctx, service, limit)
}

// Page lists one page of a service's deploys from its index.
func (s *deployLog) Page(ctx context.Context, q store.DeployQuery) ([]*rollback.Deploy, error) {
	ds, err := s.store.PageDeploys(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("page deploys of %s: %w", q.Service, err)
	}
	return ds, nil
}

// KnownGood reports whether deploys[i] (newest first) is known-good: marked
// so by hand, or it lived for stable_after with no rollback against it.
func (s *deployLog) KnownGood(deploys []*rollback.Deploy, i int, stableAfter time.Duration) bool {
	d := deploys[i]
	if d.Good {
		return true
	}
	if d.Bad {
		return false
	}
	end := s.clock.Now()
	if i > 0 {
		end = deploys[i-1].At
	}
	return end.Sub(d.At) >= stableAfter
}

// releaseOf converts a deploy to the release it installed.
func releaseOf(d *rollback.Deploy) rollback.Release {
	return rollback.Release{Version: d.Version, Artifact: d.Artifact, ConfigVersion: d.ConfigVersion,
		Commit: d.Commit, DeployID: d.ID, DeployedAt: d.At}
}

// targets finds the current release and the one to go back to. The failure
// is shown to the person who asked.
func (s *deployLog) targets(ctx context.Context, service, version string, stableAfter time.Duration) (cur, target rollback.Release, failure rollback.Words, err error) {
	deploys, err := s.store.ListDeploys(ctx, service, deployWindow)
	if err != nil {
		return cur, target, nil, fmt.Errorf("list deploys: %w", err)
	}
	if len(deploys) == 0 {
		return cur, target, rollback.Say(fmt.Sprintf("No deploys of %s are recorded, so there is nothing to go back to. CI reports deploys to POST /api/v1/deploys (or ", service),
			rollback.Code("deploy "+service+" <version>"), " in the console)."), nil
	}
	cur = releaseOf(deploys[0])
	if version != "" {
		if version == cur.Version {
			return cur, target, rollback.Sayf("%s is already running %s.", service, version), nil
		}
		var known []string // newest first, each once
		for _, d := range deploys[1:] {
			if d.Version == version {
				return cur, releaseOf(d), nil, nil
			}
			if !slices.Contains(known, d.Version) {
				known = append(known, d.Version)
			}
		}
		return cur, target, rollback.Sayf("Version %s of %s is not in its deploy history (known: %s).", version, service, strings.Join(known, ", ")), nil
	}
	for i := 1; i < len(deploys); i++ {
		if deploys[i].Version != cur.Version && s.KnownGood(deploys, i, stableAfter) {
			return cur, releaseOf(deploys[i]), nil, nil
		}
	}
	return cur, target, rollback.Say(fmt.Sprintf("No known-good release of %s before %s: none lived %s without a rollback. Name a version with ", service, cur.Version, human.Duration(stableAfter)),
		rollback.Code("to <version>"), ", or mark one good (POST /api/v1/deploys/{id}/good)."), nil
}

// markBad records that a rollback was proposed against a deploy, so it never
// becomes known-good by age.
func (s *deployLog) markBad(ctx context.Context, deployID string) {
	if deployID == "" {
		return
	}
	d, err := s.store.GetDeploy(ctx, deployID)
	if err != nil {
		s.log.WarnContext(ctx, "mark deploy bad: get", "deploy", deployID, "err", err)
		return
	}
	if d.Bad {
		return
	}
	d.Bad = true
	if err := s.store.PutDeploy(ctx, d); err != nil {
		s.log.WarnContext(ctx, "mark deploy bad: put", "deploy", deployID, "err", err)
	}
}

// Freeze is a hold on deploys of a service.
type Freeze struct {
	By     string    `json:"by"`
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

const (
	blobFreeze   = "freeze"
	blobIncident = "incident"
)

// SetFreeze closes a service's pipeline gate.
func (s *Control) SetFreeze(ctx context.Context, who Actor, service, reason string) (rollback.Words, error) {
	if _, failure := s.service(service); failure != nil {
		return failure, nil
	}
	if refusal, err := s.authorize(ctx, who, authz.Freeze, onServices(service)); err != nil || refusal != nil {
		return refusal, err
	}
	// Frozen already: the freeze stands as its author set it. Writing over
	// it would lose who froze it and why, and the gate would quote the
	// latest reason only.
	if b, err := s.freezes.GetBlob(ctx, blobFreeze, service); err == nil {
		var f Freeze
		_ = json.Unmarshal(b, &f)
		return rollback.Say(fmt.Sprintf("%s is frozen already, by %s since %s: %s. To change the reason, ", service, f.By,
			f.At.UTC().Format("2006-01-02 15:04:05Z"), f.Reason), rollback.Code("/rollback unfreeze "+service), " and freeze it again."), nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("read freeze: %w", err)
	}
	if refusal := s.auditFirst(ctx, who, "service.frozen", service, map[string]string{"reason": reason}); refusal != nil {
		return refusal, nil
	}
	b, _ := json.Marshal(Freeze{By: who.User, Reason: reason, At: s.clock.Now()})
	if err := s.freezes.PutBlob(ctx, blobFreeze, service, b); err != nil {
		return nil, fmt.Errorf("freeze: %w", err)
	}
	return nil, nil
}

// ClearFreeze opens a service's pipeline gate again.
func (s *Control) ClearFreeze(ctx context.Context, who Actor, service string) (rollback.Words, error) {
	if _, failure := s.service(service); failure != nil {
		return failure, nil
	}
	if refusal, err := s.authorize(ctx, who, authz.Unfreeze, onServices(service)); err != nil || refusal != nil {
		return refusal, err
	}
	if _, err := s.freezes.GetBlob(ctx, blobFreeze, service); errors.Is(err, store.ErrNotFound) {
		return rollback.Sayf("%s is not frozen.", service), nil
	}
	if refusal := s.auditFirst(ctx, who, "service.unfrozen", service, nil); refusal != nil {
		return refusal, nil
	}
	if err := s.freezes.DeleteBlob(ctx, blobFreeze, service); err != nil {
		return nil, fmt.Errorf("unfreeze: %w", err)
	}
	return nil, nil
}

// deployWindow is how many of a service's newest deploys a proposal looks
// for its current and target release in, and a change advisory for a
// version: enough for any release still being promoted, and a bounded read
// whatever the history.
const deployWindow = 200

// deployEvidence is the advisory's line about version: the recorded deploy
// of it (newest), or that it is not recorded yet.
func (s *deployLog) deployEvidence(ctx context.Context, service, version string) (line, id string, err error) {
	deploys, err := s.store.ListDeploys(ctx, service, deployWindow)
	if err != nil {
		return "", "", fmt.Errorf("list deploys of %s: %w", service, err)
	}
	for _, d := range deploys { // newest first
		if d.Version != version {
			continue
		}
		line = fmt.Sprintf("for deploy %s: %s %s recorded at %s", d.ID, service, version, d.At.UTC().Format(time.RFC3339))
		if d.Risk != "" {
			line += ", risk " + d.Risk
		}
		if d.Commit != "" {
			line += ", commit " + d.Commit
		}
		return line, d.ID, nil
	}
	return fmt.Sprintf("%s %s is not recorded as deployed yet (among its last %d deploys): the verdict is about %s's rollback path", service, version, deployWindow, service), "", nil
}
