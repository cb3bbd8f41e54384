// Package runbook is the runbook format: the model, strict loading with
// file:line:col errors, lint, template rendering and planning.
package runbook

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/backout/backout/internal/config"
	"github.com/backout/backout/internal/human"
	"github.com/backout/backout/internal/yamlx"
)

// Runbook is one runbooks/*.yaml file.
type Runbook struct {
	Pos         yamlx.Pos
	KeyPos      map[string]yamlx.Pos
	Name        string                 `yaml:"name"`
	Description string                 `yaml:"description"`
	Params      map[string]ParamSpec   `yaml:"params"`
	Approval    *config.ApprovalPolicy `yaml:"approval"`
	Readiness   []Check                `yaml:"readiness"`
	Steps       []Step                 `yaml:"steps"`
	Data        *Data                  `yaml:"data"`
	Validation  *Validation            `yaml:"validation"`
	Postmortem  string                 `yaml:"postmortem"`
	Drill       *DrillSettings         `yaml:"drill"`

	// File is the path the runbook was loaded from.
	File string `yaml:"-"`
}

// ParamSpec declares one parameter.
type ParamSpec struct {
	Pos      yamlx.Pos
	KeyPos   map[string]yamlx.Pos
	Type     string `yaml:"type"` // string (default), int, bool, duration
	Required bool   `yaml:"required"`
	// Default is nil when the runbook gives none. `default: ""` is a value
	// like any other: the param is set, to the empty string, so templates
	// (rendered with missingkey=error) see it; only an absent default
	// leaves the param unset.
	Default     *string `yaml:"default"`
	Description string  `yaml:"description"`
}

// Step is one unit of work.
type Step struct {
	Pos        yamlx.Pos
	KeyPos     map[string]yamlx.Pos
	ID         string         `yaml:"id"`
	Name       string         `yaml:"name"`
	Uses       string         `yaml:"uses"`
	With       yamlx.Node     `yaml:"with"`
	Needs      []string       `yaml:"needs"`
	Timeout    yamlx.Duration `yaml:"timeout"`
	Retries    Retries        `yaml:"retries"`
	If         string         `yaml:"if"`
	OnFailure  string         `yaml:"on_failure"` // abort (default) | continue | compensate
	Compensate *Action        `yaml:"compensate"`
	Gate       *Gate          `yaml:"gate"`
	Idempotent bool           `yaml:"idempotent"`
}

// Action is what the step runs: its executor, arguments and timeout.
func (s Step) Action() Action {
	return Action{Pos: s.Pos, KeyPos: s.KeyPos, Uses: s.Uses, With: s.With, Timeout: s.Timeout}
}

// Title is the step's name, or its id.
func (s Step) Title() string {
	if s.Name != "" {
		return s.Name
	}
	return s.ID
}

// Failure policies.
const (
	OnFailureAbort      = "abort"
	OnFailureContinue   = "continue"
	OnFailureCompensate = "compensate"
)

// Policy returns the step's on_failure, defaulting to abort.
func (s Step) Policy() string {
	if s.OnFailure == "" {
		return OnFailureAbort
	}
	return s.OnFailure
}

// Action is an executor call without scheduling: a compensation.
type Action struct {
	Pos     yamlx.Pos
	KeyPos  map[string]yamlx.Pos
	Uses    string         `yaml:"uses"`
	With    yamlx.Node     `yaml:"with"`
	Timeout yamlx.Duration `yaml:"timeout"`
}

// Gate pauses a run until a named group signs off.
type Gate struct {
	Pos     yamlx.Pos
	KeyPos  map[string]yamlx.Pos
	Group   string         `yaml:"group"`
	Min     int            `yaml:"min"`
	Timeout yamlx.Duration `yaml:"timeout"`
	Message string         `yaml:"message"`
}

// Retries is `retries: 3` or `retries: {max: 3, backoff: 1s, max_backoff: 30s}`.
type Retries struct {
	Max        int
	Backoff    time.Duration
	MaxBackoff time.Duration
}

// UnmarshalYAMLX implements yamlx.Unmarshaler.
func (r *Retries) UnmarshalYAMLX(file string, n *yaml.Node) error {
	*r = Retries{Backoff: time.Second, MaxBackoff: 30 * time.Second}
	if n.Kind == yaml.ScalarNode {
		var max int
		if _, err := fmt.Sscanf(n.Value, "%d", &max); err != nil || max < 0 || fmt.Sprint(max) != n.Value {
			return yamlx.Pos{File: file, Line: n.Line, Col: n.Column}.Errorf("retries: expected a count or {max, backoff, max_backoff}, got %q", n.Value)
		}
		r.Max = max
		return nil
	}
	var long struct {
		KeyPos     map[string]yamlx.Pos
		Max        int            `yaml:"max"`
		Backoff    yamlx.Duration `yaml:"backoff"`
		MaxBackoff yamlx.Duration `yaml:"max_backoff"`
	}
	node := yamlx.Node{File: file, Node: n}
	if err := node.Decode(&long); err != nil {
		return err
	}
	r.Max = long.Max
	if long.Backoff > 0 {
		r.Backoff = long.Backoff.D()
	}
	if long.MaxBackoff > 0 {
		r.MaxBackoff = long.MaxBackoff.D()
	}
	var errs yamlx.Errors
	at := func(key string) yamlx.Pos { return yamlx.KeyAt(node.Pos(), long.KeyPos, key) }
	if long.Max < 0 {
		errs.Addf(at("max"), "retries.max: must be 0 or more")
	}
	// The wait between tries is capped at max_backoff: a larger backoff
	// would be cut without a word.
	if r.Backoff > r.MaxBackoff {
		errs.Addf(at("backoff"), "retries.backoff: %s is more than max_backoff %s, which caps every wait; raise max_backoff or lower backoff",
			human.Duration(r.Backoff), human.Duration(r.MaxBackoff))
	}
	return errs.Err()
}

// Check is a readiness or validation check.
type Check struct {
	Pos      yamlx.Pos
	KeyPos   map[string]yamlx.Pos
	Name     string     `yaml:"name"`
	Uses     string     `yaml:"uses"`
	With     yamlx.Node `yaml:"with"`
	Blocking bool       `yaml:"blocking"`
	// Measurement settings (validation): how many measurements, how far
	// apart, and the limits that end a check early (Argo Rollouts style).
	Count                 int            `yaml:"count"`
	Interval              yamlx.Duration `yaml:"interval"`
	FailureLimit          int            `yaml:"failure_limit"`
	InconclusiveLimit     int            `yaml:"inconclusive_limit"`
	ConsecutiveErrorLimit int            `yaml:"consecutive_error_limit"`
	// Measures says what a readiness check's value is, beyond pass or
	// fail: data_loss (seconds of data a rollback would lose, e.g. a
	// backup's age), held against the service's max_data_loss.
	Measures string `yaml:"measures"`
	// Drill is the audited exception for a validation check that an
	// environment drill must share with production (LintDrillTargets).
	Drill *CheckDrill `yaml:"drill"`
}

// CheckDrill lets one validation check observe the same thing in an
// environment drill as in a rollback of production. Lint otherwise
// refuses such a check (the drill would pass on production's data); the
// reason is required, and every drill's scorecard shows it.
type CheckDrill struct {
	Pos              yamlx.Pos
	KeyPos           map[string]yamlx.Pos
	SameAsProduction bool   `yaml:"same_as_production"`
	Why              string `yaml:"why"`
}

// SharedWithProduction is the reason the check may observe production in
// an environment drill, "" when it may not.
func (c Check) SharedWithProduction() string {
	if c.Drill == nil || !c.Drill.SameAsProduction {
		return ""
	}
	return strings.TrimSpace(c.Drill.Why)
}

// Data states what the rollback reverts and what must stay, in the
// grammar of internal/datarule, and how much data it may lose.
type Data struct {
	Pos     yamlx.Pos
	KeyPos  map[string]yamlx.Pos
	Reverts []DataItem `yaml:"reverts"`
	Keeps   []DataItem `yaml:"keeps"`
	// LossWindow is the most data the rollback loses (e.g. a restore from
	// a backup taken every 15m); nil: not declared, "0": none.
	LossWindow *yamlx.Duration `yaml:"loss_window"`
	Notes      string          `yaml:"notes"`
}

// Validation is what proves the service healthy after the steps. It has
// two phases, as an Argo Rollouts analysis does: the service settles for
// InitialDelay after the last step (nothing is measured), then each check
// takes its Count measurements Interval apart. Window bounds both phases.
type Validation struct {
	Pos          yamlx.Pos
	KeyPos       map[string]yamlx.Pos
	InitialDelay yamlx.Duration `yaml:"initial_delay"`
	Window       yamlx.Duration `yaml:"window"`
	Checks       []Check        `yaml:"checks"`
}

// Measurement defaults of a validation check, as in Argo Rollouts analysis.
const (
	DefaultCheckCount    = 1
	DefaultCheckInterval = 30 * time.Second
)

// Measurements is how many measurements the check takes and how far apart
// (its count and interval, or the defaults).
func (c Check) Measurements() (count int, interval time.Duration) {
	count, interval = c.Count, c.Interval.D()
	if count <= 0 {
		count = DefaultCheckCount
	}
	if interval <= 0 {
		interval = DefaultCheckInterval
	}
	return count, interval
}

// MeasuringTime is how long after the settling delay the check's last
// measurement is due: (count-1) intervals.
func (c Check) MeasuringTime() time.Duration {
	count, interval := c.Measurements()
	return time.Duration(count-1) * interval
}

// DrillSettings changes a run in drill mode.
type DrillSettings struct {
	Pos         yamlx.Pos
	KeyPos      map[string]yamlx.Pos
	DryRun      bool              `yaml:"dry_run"`
	Environment string            `yaml:"environment"`
	Params      map[string]string `yaml:"params"`
	// RollForward returns the drill environment to the version it had
	// after a successful environment drill.
	RollForward *RollForward `yaml:"roll_forward"`
}

// RollForward is what runs after a successful environment drill, with the
// releases swapped: .Target is the version the environment had before the
// drill (the service's current release), .Current the one the drill put
// there. Either its own steps, or rerun: the runbook's steps again, in
// file order.
type RollForward struct {
	Pos    yamlx.Pos
	KeyPos map[string]yamlx.Pos
	Steps  []Action `yaml:"steps"`
	Rerun  bool     `yaml:"rerun"`
}

// Actions are what a roll forward runs, in order: its steps, or the
// runbook's own (gates left out: nobody is asked after a drill).
func (rf *RollForward) Actions(rb *Runbook) []Action {
	if !rf.Rerun {
		return rf.Steps
	}
	var out []Action
	for _, st := range rb.Steps {
		if st.Uses != "" {
			out = append(out, st.Action())
		}
	}
	return out
}

// Load reads one runbook file strictly.
func Load(path string) (*Runbook, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read runbook: %w", err)
	}
	return Parse(path, data)
}

// Parse decodes runbook bytes strictly (structure only; see Lint for
// meaning). On a structural error it still returns what it decoded (nil
// only for a file that is not YAML) so lint can report the rest at once;
// such a runbook must not be run.
func Parse(path string, data []byte) (*Runbook, error) {
	var rb Runbook
	err := yamlx.Unmarshal(path, data, &rb)
	var list yamlx.Errors
	if errors.As(err, &list) && len(list) == 1 && strings.HasPrefix(list[0].Msg, "invalid YAML") {
		return nil, err
	}
	rb.File = path
	if rb.Pos.File == "" { // an empty document: point at its start
		rb.Pos = yamlx.Pos{File: path, Line: 1, Col: 1}
	}
	rb.resolveTimeouts()
	return &rb, err
}

// Step timeouts when a runbook sets none (or 0).
const (
	DefaultStepTimeout = 10 * time.Minute
	// DefaultWaitTimeout is shorter for `uses: wait`: such a step polls
	// until its timeout, and 5m was the wait executor's own default before
	// steps had the only timeout, so a runbook written then keeps its pace.
	DefaultWaitTimeout = 5 * time.Minute
)

// DefaultTimeout is the timeout a step or compensation using uses gets
// when it sets none.
func DefaultTimeout(uses string) time.Duration {
	if uses == "wait" {
		return DefaultWaitTimeout
	}
	return DefaultStepTimeout
}

// resolveTimeouts gives every step and compensation its effective timeout,
// once, at load: whatever builds a request downstream reads it as it is
// and defaults nothing. Only an unset (0) timeout is replaced.
func (rb *Runbook) resolveTimeouts() {
	for i := range rb.Steps {
		st := &rb.Steps[i]
		if st.Timeout == 0 {
			st.Timeout = yamlx.Duration(DefaultTimeout(st.Uses))
		}
		if c := st.Compensate; c != nil && c.Timeout == 0 {
			c.Timeout = yamlx.Duration(DefaultTimeout(c.Uses))
		}
	}
	if rb.Drill != nil && rb.Drill.RollForward != nil {
		for i := range rb.Drill.RollForward.Steps {
			a := &rb.Drill.RollForward.Steps[i]
			if a.Timeout == 0 {
				a.Timeout = yamlx.Duration(DefaultTimeout(a.Uses))
			}
		}
	}
}

// Set is the runbooks of a directory, by name.
type Set map[string]*Runbook

// Names lists the runbooks in order.
func (s Set) Names() []string {
	names := make([]string, 0, len(s))
	for n := range s {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// LoadDir loads every *.yaml and *.yml file in dir (not recursively). Each
// file that fails to parse contributes its errors; the rest still load.
func LoadDir(dir string) (Set, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read runbook directory: %w", err)
	}
	set := Set{}
	var errs yamlx.Errors
	for _, e := range entries {
		if e.IsDir() || !(strings.HasSuffix(e.Name(), ".yaml") || strings.HasSuffix(e.Name(), ".yml")) {
			continue
		}
		path := filepath.Join(dir, e.Name())
		rb, err := Load(path)
		errs.Add(yamlx.Pos{File: path}, err)
		if rb == nil {
			continue
		}
		name := rb.Name
		if name == "" {
			name = "(unnamed: " + path + ")" // lint reports the missing name
		}
		if prev, dup := set[name]; dup {
			errs.Addf(rb.Pos, "duplicate runbook name %q (also in %s)", rb.Name, prev.File)
			continue
		}
		set[name] = rb
	}
	return set, errs.Err()
}
