// Package rollback is Backout's domain model: the rollback record and its
// states with the one transition table, step events, votes, deploys and
// policies. It imports nothing of Backout's: the store persists these types,
// the lifecycle changes them, presentation shows them.
package rollback

import (
	"fmt"
	"time"
)

// State is where a rollback is in its lifecycle.
type State string

// Lifecycle states. The graph is in transitions.go: proposed -> approved -> running ->
// validating -> succeeded | failed; proposed -> rejected | expired | stale;
// running -> aborted | interrupted; interrupted -> running | aborted.
const (
	StateProposed    State = "proposed"
	StateApproved    State = "approved"
	StateRunning     State = "running"
	StateValidating  State = "validating"
	StateSucceeded   State = "succeeded"
	StateFailed      State = "failed"
	StateRejected    State = "rejected"
	StateExpired     State = "expired"
	StateStale       State = "stale"
	StateAborted     State = "aborted"
	StateInterrupted State = "interrupted"
)

// States is every lifecycle state, in the lifecycle's order: what a
// registry query may filter on.
var States = []State{StateProposed, StateApproved, StateRunning, StateValidating, StateSucceeded, StateFailed,
	StateRejected, StateExpired, StateStale, StateAborted, StateInterrupted}

// TriggerKinds is every Trigger.Kind, what a registry query may filter on.
var TriggerKinds = []string{"person", "alert", "watcher", "drill"}

// Terminal reports whether no further transition is possible.
func (s State) Terminal() bool {
	switch s {
	case StateSucceeded, StateFailed, StateRejected, StateExpired, StateStale, StateAborted:
		return true
	}
	return false
}

// Release is one version of one service.
type Release struct {
	Version       string    `json:"version"`
	Artifact      string    `json:"artifact,omitempty"`
	ConfigVersion string    `json:"config_version,omitempty"`
	Commit        string    `json:"commit,omitempty"`
	DeployID      string    `json:"deploy_id,omitempty"`
	DeployedAt    time.Time `json:"deployed_at,omitzero"`
}

// Trigger says what started a proposal.
type Trigger struct {
	Kind       string    `json:"kind"`             // person | alert | watcher | drill
	Source     string    `json:"source,omitempty"` // pagerduty | alertmanager | slack | console | api | cron
	AlertID    string    `json:"alert_id,omitempty"`
	IncidentID string    `json:"incident_id,omitempty"`
	URL        string    `json:"url,omitempty"`
	Summary    string    `json:"summary,omitempty"`
	Urgency    string    `json:"urgency,omitempty"`
	At         time.Time `json:"at,omitzero"`
}

// ServiceChange is one service's part of a rollback.
type ServiceChange struct {
	Service   string            `json:"service"`
	Current   Release           `json:"current"`
	Target    Release           `json:"target"`
	Runbook   string            `json:"runbook"`
	Params    map[string]string `json:"params,omitempty"`
	Level     int               `json:"level"` // dependency level: 0 goes first
	DependsOn []string          `json:"depends_on,omitempty"`
	Steps     []PlannedStep     `json:"steps"`
}

// PlannedStep is a step rendered for this rollback.
type PlannedStep struct {
	ID         string   `json:"id"`
	Title      string   `json:"title"`
	Uses       string   `json:"uses"`
	Needs      []string `json:"needs,omitempty"`
	Preview    string   `json:"preview"`
	Gate       string   `json:"gate,omitempty"`
	Idempotent bool     `json:"idempotent,omitempty"`
	Skipped    bool     `json:"skipped,omitempty"` // `if:` false at plan time
}

// CheckResult is one readiness or validation check outcome.
type CheckResult struct {
	Service  string    `json:"service,omitempty"`
	Name     string    `json:"name"`
	Status   string    `json:"status"` // readiness: pass|warn|fail; validation: Successful|Failed|Inconclusive|Error
	Reason   string    `json:"reason"`
	Value    string    `json:"value,omitempty"`
	Bound    string    `json:"bound,omitempty"`
	Blocking bool      `json:"blocking,omitempty"`
	At       time.Time `json:"at"`
	// Chart is the check's query around the incident, for checks with a
	// query (validation only).
	Chart *Chart `json:"chart,omitempty"`
	// Measured counts a validation check's measurements by outcome; Value
	// and Bound are those of the one that decided. Nil for readiness, for
	// skipped checks and on records written before it was kept.
	Measured *MeasurementTally `json:"measured,omitempty"`
	// SharedWithProduction is, for a validation check of a drill that its
	// runbook lets observe production (drill.same_as_production), why: the
	// drill's scorecard shows it.
	SharedWithProduction string `json:"shared_with_production,omitempty"`
}

// Chart is a metric check's query from before the bad deploy to the end of
// validation, with what happened marked on it. It is data: adapters draw it.
type Chart struct {
	Query  string        `json:"query"`
	From   time.Time     `json:"from"`
	To     time.Time     `json:"to"`
	Series []ChartSeries `json:"series"`
	Marks  []ChartMark   `json:"marks,omitempty"`
	// Window is when the measurements were taken: after the settling delay
	// to the end of validation.
	WindowStart time.Time `json:"window_start"`
	WindowEnd   time.Time `json:"window_end"`
	// Band is what the measurements were held against (a threshold or the
	// baseline's allowance); nil when there is none to draw.
	Band *ChartBand `json:"band,omitempty"`
}

// ChartSeries is one labelled series; NaN samples are left out.
type ChartSeries struct {
	Name   string       `json:"name"`
	Points []ChartPoint `json:"points"`
}

// ChartPoint is one sample.
type ChartPoint struct {
	At    time.Time `json:"t"`
	Value float64   `json:"v"`
}

// ChartMark is a moment on the chart: the bad deploy, the alert, the
// rollback's start and end.
type ChartMark struct {
	Label string    `json:"label"`
	At    time.Time `json:"at"`
}

// ChartBand is an allowed range; a nil end is open.
type ChartBand struct {
	Label string   `json:"label"`
	Low   *float64 `json:"low,omitempty"`
	High  *float64 `json:"high,omitempty"`
}

// Override records a person setting aside a blocking check or the thrash guard.
type Override struct {
	Check  string    `json:"check"`
	By     string    `json:"by"`
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// OverrideThrashGuard is the Check of an Override that set aside the thrash
// guard (the reason is the proposal's own).
const OverrideThrashGuard = "thrash-guard"

// Policy is the approval policy captured at proposal time.
type Policy struct {
	Min        int       `json:"min"`
	Groups     []string  `json:"groups,omitempty"`
	Users      []string  `json:"users,omitempty"`
	Roles      []string  `json:"roles,omitempty"`
	ForbidSelf bool      `json:"forbid_self"`
	ExpiresAt  time.Time `json:"expires_at,omitzero"`
	Waived     bool      `json:"waived,omitempty"` // drills whose policy waives approval
	// UnansweredAt is when Backout approves the proposal itself if nobody
	// has voted (auto_execute: when_unanswered), shown on the proposal so
	// that silence is not mistaken for letting it expire; zero: never.
	UnansweredAt time.Time `json:"unanswered_at,omitzero"`
	// Services holds each service's own policy when a rollback covers
	// several (a bundle, a release): each must be met by votes of people
	// eligible for that service, so one service's approvers cannot carry
	// another's. Empty for a single service, whose policy is the above.
	Services map[string]Policy `json:"services,omitempty"`
}

// Note is something that happened to a rollback from outside (an incident
// acknowledged or resolved, urgency raised).
type Note struct {
	At   time.Time `json:"at"`
	Text string    `json:"text"`
}

// Record is the whole record of one rollback (or drill).
type Record struct {
	ID      string `json:"id"`      // RB-42
	Version int64  `json:"version"` // compare-and-set counter, bumped on every update
	State   State  `json:"state"`

	Drill bool `json:"drill,omitempty"`
	// DrillMode is the mode the drill policy asked for (templates see it
	// as .Drill.Mode); DrillDryRunCause, when set, says why the drill
	// nevertheless only previews its steps (its runbook forces
	// drill.dry_run). DrillRunMode is the mode it runs in.
	DrillMode        string          `json:"drill_mode,omitempty"`
	DrillDryRunCause string          `json:"drill_dry_run_cause,omitempty"`
	Auto             bool            `json:"auto,omitempty"` // executed without votes by policy
	Trigger          Trigger         `json:"trigger"`
	Requester        string          `json:"requester"`
	Reason           string          `json:"reason,omitempty"`
	Scope            string          `json:"scope"` // service | services | release
	Release          string          `json:"release,omitempty"`
	Services         []ServiceChange `json:"services"`
	PlanHash         string          `json:"plan_hash"`
	// Replans counts how often the plan changed after it was proposed: a
	// typed approval must then name the plan it approves.
	Replans        int            `json:"replans,omitempty"`
	Readiness      []CheckResult  `json:"readiness,omitempty"`
	Overrides      []Override     `json:"overrides,omitempty"`
	Policy         Policy         `json:"policy"`
	Constraints    []string       `json:"constraints,omitempty"`
	DataReverts    []string       `json:"data_reverts,omitempty"`
	DataKeeps      []string       `json:"data_keeps,omitempty"`
	RecoveryTarget time.Duration  `json:"recovery_target,omitzero"`
	MaxDataLoss    *time.Duration `json:"max_data_loss,omitempty"` // nil: not set; 0: no loss allowed
	Urgency        string         `json:"urgency,omitempty"`

	Channel   string `json:"channel,omitempty"`
	MessageTS string `json:"message_ts,omitempty"` // the proposal message; its thread holds the story

	DetectedAt   time.Time `json:"detected_at,omitzero"`
	CreatedAt    time.Time `json:"created_at"`
	DecidedAt    time.Time `json:"decided_at,omitzero"` // approved, rejected or expired
	StartedAt    time.Time `json:"started_at,omitzero"`
	ValidatingAt time.Time `json:"validating_at,omitzero"`
	EndedAt      time.Time `json:"ended_at,omitzero"`

	Outcome     string               `json:"outcome,omitempty"` // a one-line summary of how it ended
	Validation  []CheckResult        `json:"validation,omitempty"`
	Approvers   []string             `json:"approvers,omitempty"`
	Gates       map[string]GateState `json:"gates,omitempty"`
	Paused      bool                 `json:"paused,omitempty"`
	AbortBy     string               `json:"abort_by,omitempty"`
	AbortReason string               `json:"abort_reason,omitempty"`
	Notes       []Note               `json:"notes,omitempty"`

	// ResumeDue marks an interrupted rollback that Backout resumes on its
	// own (engine.auto_resume); AutoResumes counts the times it did.
	ResumeDue   bool `json:"resume_due,omitempty"`
	AutoResumes int  `json:"auto_resumes,omitempty"`

	// Lingering, set on an interrupted rollback whose driver's lease ran
	// out less than engine.kill_grace ago, says its steps may still be
	// stopping there; nobody may resume it until then.
	Lingering *Lingering `json:"lingering,omitempty"`

	// SupportUntil ends the support window of a successful rollback: until
	// then, people in its services' support channels may report users
	// still affected (SupportReports, one per person).
	SupportUntil   time.Time       `json:"support_until,omitzero"`
	SupportReports []SupportReport `json:"support_reports,omitempty"`
}

// Lingering is a driver that may still be stopping its steps.
type Lingering struct {
	Replica string `json:"replica"`
	// Until is the driver's lease expiry plus kill_grace, by the store's
	// clock: by then its steps are stopped, or it has been killed.
	Until time.Time `json:"until"`
}

// Describe says what people must wait for, and why, about rollback id.
func (l Lingering) Describe(id string) string {
	return l.Where(id) + "; Resume is offered after that."
}

// Where says whose steps may still run and until when, without the end of
// the sentence. The time is rounded up: it is a bound, and one rounded down
// could read as already past while the steps may still run.
func (l Lingering) Where(id string) string {
	until := l.Until.UTC()
	if t := until.Truncate(time.Second); t.Before(until) {
		until = t.Add(time.Second)
	}
	return fmt.Sprintf("Steps of %s may still be running on replica %s until %s (lease expiry + kill_grace)", id, l.Replica, until.Format("15:04:05Z"))
}

// GateState tracks one mid-run sign-off.
type GateState struct {
	Group    string    `json:"group"`
	Min      int       `json:"min"`
	Signed   []string  `json:"signed,omitempty"`
	OpenedAt time.Time `json:"opened_at"`
	Passed   bool      `json:"passed,omitempty"`
}

// ServiceNames lists the services in scope.
func (r *Record) ServiceNames() []string {
	out := make([]string, len(r.Services))
	for i, s := range r.Services {
		out[i] = s.Service
	}
	return out
}

// Step event kinds.
const (
	StepStarted            = "started"
	StepOutput             = "output"
	StepSucceeded          = "succeeded"
	StepFailed             = "failed"
	StepRetrying           = "retrying"
	StepSkipped            = "skipped"
	StepCompensating       = "compensating"
	StepCompensated        = "compensated"
	StepCompensationFailed = "compensation-failed"
	// StepCompensationStopped: a compensation was stopped before it ended
	// (a shutdown's grace ran out during an abort): what it did is unknown.
	StepCompensationStopped = "compensation-stopped"
	StepGateWaiting         = "gate-waiting"
	StepGatePassed          = "gate-passed"
	StepInterrupted         = "interrupted"
)

// StepEvent is one persisted transition of one step.
type StepEvent struct {
	Seq      int64         `json:"seq"`   // assigned by the store
	Token    int64         `json:"token"` // fencing token of the writer
	Service  string        `json:"service"`
	StepID   string        `json:"step_id"`
	Kind     string        `json:"kind"`
	Attempt  int           `json:"attempt,omitempty"`
	At       time.Time     `json:"at"`
	Output   string        `json:"output,omitempty"`
	ExitCode int           `json:"exit_code,omitempty"`
	Error    string        `json:"error,omitempty"`
	Duration time.Duration `json:"duration,omitzero"`
}

// Vote is one person's decision on one plan.
type Vote struct {
	RollbackID string   `json:"rollback_id"`
	User       string   `json:"user"`
	Approve    bool     `json:"approve"`
	Reason     string   `json:"reason,omitempty"`
	PlanHash   string   `json:"plan_hash"`
	Groups     []string `json:"groups,omitempty"` // the groups the voter counted for
	// Services are the services of a bundle the vote counts for: those
	// whose own policy makes the voter eligible.
	Services []string  `json:"services,omitempty"`
	Counted  bool      `json:"counted"`
	At       time.Time `json:"at"`
}

// Deploy is one release of one service reported by CI.
type Deploy struct {
	ID            string    `json:"id"`
	Service       string    `json:"service"`
	Version       string    `json:"version"`
	Artifact      string    `json:"artifact"`
	ConfigVersion string    `json:"config_version,omitempty"`
	Environment   string    `json:"environment,omitempty"`
	Commit        string    `json:"commit,omitempty"`
	DeployedBy    string    `json:"deployed_by,omitempty"`
	URL           string    `json:"url,omitempty"`
	Risk          string    `json:"risk,omitempty"`
	At            time.Time `json:"at"`
	Mutable       bool      `json:"mutable_artifact,omitempty"`
	Good          bool      `json:"good,omitempty"` // marked known-good by a person
	GoodAt        time.Time `json:"good_at,omitzero"`
	Bad           bool      `json:"bad,omitempty"` // a rollback was proposed against it
	// Unproven says why a high-risk deploy went out without a proven
	// rollback path (no fresh drill, runbook lint errors); empty otherwise.
	Unproven []string `json:"rollback_unproven,omitempty"`
}

// DrillRecord is the scorecard of one drill.
type DrillRecord struct {
	ID         string    `json:"id"`
	Service    string    `json:"service"`
	RollbackID string    `json:"rollback_id"`
	At         time.Time `json:"at"`
	// Mode is the mode the drill ran in: dry-run when its steps only
	// described themselves, whatever the policy asked for. PolicyMode is
	// the policy's mode when it differs, and DryRunCause why (the runbook
	// forces drill.dry_run).
	Mode           string        `json:"mode"`
	PolicyMode     string        `json:"policy_mode,omitempty"`
	DryRunCause    string        `json:"dry_run_cause,omitempty"`
	Succeeded      bool          `json:"succeeded"`
	Duration       time.Duration `json:"duration"`
	RecoveryTarget time.Duration `json:"recovery_target"`
	FailedSteps    []string      `json:"failed_steps,omitempty"`
	// Steps are how long each step took, first start to end (retries
	// included), in the order they started: the next drill's trend.
	Steps []DrillStep `json:"steps,omitempty"`
	// SkippedChecks say which validation checks a dry-run drill did not
	// run, and why.
	SkippedChecks []string `json:"skipped_checks,omitempty"`
	// SharedChecks are the validation checks that observed production, not
	// the drill, as their runbook allows, each "name: why".
	SharedChecks []string `json:"shared_checks,omitempty"`
	// RollForward is what returned the drill environment to the version it
	// had, when the drill asked for it.
	RollForward *RollForward `json:"roll_forward,omitempty"`
}

// drillModeDryRun is config.DrillModeDryRun (the domain imports nothing).
const drillModeDryRun = "dry-run"

// DrillRunMode is the mode a drill runs in: dry-run when something forces
// it (DrillDryRunCause), the policy's DrillMode otherwise; "" for a
// rollback.
func (r *Record) DrillRunMode() string {
	switch {
	case !r.Drill:
		return ""
	case r.DrillDryRunCause != "":
		return drillModeDryRun
	}
	return r.DrillMode
}

// DrillModeText is the drill's mode as people read it: "environment",
// "dry-run", or "dry-run: the policy says environment, but runbook rb
// forces drill.dry_run".
func (r *Record) DrillModeText() string {
	return modeText(r.DrillRunMode(), r.DrillMode, r.DrillDryRunCause)
}

// DryRun reports whether the drill's steps only described themselves, so
// it proves no rollback path. A record written before the run mode was
// recorded may say environment for a dry run its runbook forced; its
// skipped checks give it away (only a dry run skips validation).
func (d DrillRecord) DryRun() bool {
	return d.Mode == drillModeDryRun || len(d.SkippedChecks) > 0
}

// ModeText is the mode the drill ran in, as people read it; see
// Record.DrillModeText.
func (d DrillRecord) ModeText() string { return modeText(d.ModeParts()) }

// ModeParts are the mode the drill ran in, the mode its policy asked for,
// and, when they differ, why; records older than the run mode are read
// from their skipped checks.
func (d DrillRecord) ModeParts() (ran, policy, cause string) {
	ran, policy, cause = d.Mode, d.PolicyMode, d.DryRunCause
	if policy == "" {
		policy = d.Mode
	}
	if d.DryRun() && ran != drillModeDryRun { // an older record
		ran, cause = drillModeDryRun, "its validation checks were skipped, as only in a dry run"
	}
	return ran, policy, cause
}

func modeText(ran, policy, cause string) string {
	if ran == policy || cause == "" {
		return ran
	}
	return fmt.Sprintf("%s: the policy says %s, but %s", ran, policy, cause)
}

// DrillStep is one step's time in a drill.
type DrillStep struct {
	Step     string        `json:"step"` // service/step-id
	Duration time.Duration `json:"duration"`
}

// RollForward is the outcome of returning a drill environment to its
// version after the drill.
type RollForward struct {
	// Version is what the drill environment was to go back to.
	Version string `json:"version"`
	// Ran says whether anything ran; Detail says why not, or what failed.
	Ran       bool   `json:"ran"`
	Succeeded bool   `json:"succeeded"`
	Detail    string `json:"detail,omitempty"`
}
