// Package config loads bot.yaml: the bot's settings and the service catalog.
// Loading is strict (unknown keys are errors) and reports every problem at
// once as file:line:col. Secrets never come from the file, only from the
// environment (see Secrets).
package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/backout/backout/internal/yamlx"
)

// Duration is re-exported so config users need not import yamlx.
type Duration = yamlx.Duration

// Pos is where a value was written.
type Pos = yamlx.Pos

// Config is the whole of bot.yaml.
type Config struct {
	Pos        Pos
	KeyPos     map[string]Pos
	Listen     string           `yaml:"listen"`
	PublicURL  string           `yaml:"public_url"`
	Store      StoreConfig      `yaml:"store"`
	Slack      SlackConfig      `yaml:"slack"`
	PagerDuty  PagerDutyConfig  `yaml:"pagerduty"`
	Prometheus PrometheusConfig `yaml:"prometheus"`
	Registry   RegistryConfig   `yaml:"registry"`
	Runbooks   string           `yaml:"runbooks"`
	Services   []Service        `yaml:"services"`
	// Releases name sets of services that ship (and go back) together.
	Releases   map[string][]string       `yaml:"releases"`
	Groups     map[string]Group          `yaml:"groups"`
	Approvals  map[string]ApprovalPolicy `yaml:"approvals"`
	Drills     DrillsConfig              `yaml:"drills"`
	Postmortem PostmortemConfig          `yaml:"postmortem"`
	Engine     EngineConfig              `yaml:"engine"`
	Audit      AuditConfig               `yaml:"audit"`
	// Permissions say who may take each action (see internal/authz), over
	// restrictive defaults.
	Permissions map[string][]string `yaml:"permissions"`

	// File is the path the config was loaded from; relative paths inside it
	// (runbooks, store.path) resolve against its directory.
	File string `yaml:"-"`
	// Secrets are read from the environment, never from the file.
	Secrets Secrets `yaml:"-"`
}

// StoreConfig selects the state store.
type StoreConfig struct {
	Pos    Pos
	KeyPos map[string]Pos
	Kind   string `yaml:"kind"`   // bolt (default) or redis
	Path   string `yaml:"path"`   // bolt file
	URL    string `yaml:"url"`    // redis://host:port/db; the password comes from REDIS_PASSWORD
	Prefix string `yaml:"prefix"` // redis key prefix
	// RequirePersistence refuses to start on a Redis that keeps nothing on
	// disk (neither AOF nor snapshots), or whose CONFIG command is disabled
	// so that this cannot be verified: a restart of such a Redis silently
	// forgets every rollback. Without it Backout only warns. Redis only.
	RequirePersistence bool `yaml:"require_persistence"`
	// DedupMaxKeys bounds the webhook dedup keys a bolt store holds in
	// memory (0: the store's default, a million, about 62 MB); past it the
	// oldest are let go early, with a warning. Bolt only.
	DedupMaxKeys int `yaml:"dedup_max_keys"`
}

// SlackConfig holds non-secret Slack settings.
type SlackConfig struct {
	Pos     Pos
	APIURL  string `yaml:"api_url"`
	Channel string `yaml:"channel"`
	// Command is the slash command name, "/rollback" by default.
	Command string `yaml:"command"`
}

// PagerDutyConfig holds non-secret PagerDuty settings.
type PagerDutyConfig struct {
	Pos              Pos
	APIURL           string `yaml:"api_url"`
	EventsURL        string `yaml:"events_url"`
	FromEmail        string `yaml:"from_email"`
	AckOnPropose     bool   `yaml:"acknowledge_on_propose"`
	ResolveOnSuccess bool   `yaml:"resolve_on_success"`
	// RoutingKeyEnv names the env var holding an Events API v2 routing key,
	// used to page when validation fails. Empty: no Events API alert.
	RoutingKeyEnv string `yaml:"routing_key_env"`
	// SuspectWindow: a deploy this recent is a suspect for a new incident.
	SuspectWindow Duration `yaml:"suspect_window"`
}

// PrometheusConfig points at the Prometheus HTTP API.
type PrometheusConfig struct {
	Pos Pos
	URL string `yaml:"url"`
}

// RegistryConfig points at an OCI registry for artifact readiness checks.
type RegistryConfig struct {
	Pos Pos
	URL string `yaml:"url"`
}

// Group is a named set of people: Slack user IDs and/or a Slack user group.
type Group struct {
	Pos            Pos
	KeyPos         map[string]Pos
	Members        []string `yaml:"members"`
	SlackUsergroup string   `yaml:"slack_usergroup"`
}

// ApprovalPolicy says who must agree before a rollback runs.
type ApprovalPolicy struct {
	Pos          Pos
	KeyPos       map[string]Pos
	Min          int      `yaml:"min"`
	Groups       []string `yaml:"groups"`
	Users        []string `yaml:"users"`
	Roles        []string `yaml:"roles"`
	ForbidSelf   *bool    `yaml:"forbid_self"`
	ExpiresAfter Duration `yaml:"expires_after"`
	// Override lists groups whose members may override a blocking readiness
	// failure or the thrash guard; empty means the eligible approvers.
	Override []string `yaml:"override"`
}

// SelfForbidden reports whether the requester's own vote is refused (default true).
func (p ApprovalPolicy) SelfForbidden() bool { return p.ForbidSelf == nil || *p.ForbidSelf }

// DrillsConfig holds cluster-wide drill and report settings.
type DrillsConfig struct {
	Pos Pos
	// Timezone for drill and report schedules unless a schedule sets CRON_TZ.
	Timezone string `yaml:"timezone"`
	// MaxAge: a service without a successful drill this recent is overdue.
	MaxAge Duration `yaml:"max_age"`
	// MaxAgeHighRisk: a high-risk deploy needs a successful drill of its
	// service this recent (the change advisory gate); default 7d.
	MaxAgeHighRisk Duration `yaml:"max_age_high_risk"`
	// ReportSchedule is the weekly report's cron expression.
	ReportSchedule string `yaml:"report_schedule"`
	// ReportChannels receive the weekly report; empty means each service channel.
	ReportChannels []string `yaml:"report_channels"`
}

// PostmortemConfig controls post-mortem delivery.
type PostmortemConfig struct {
	Pos Pos
	// WebhookURL receives each post-mortem as JSON, to create the document elsewhere.
	WebhookURL string `yaml:"webhook_url"`
}

// EngineConfig tunes the runbook engine.
type EngineConfig struct {
	Pos         Pos
	KeyPos      map[string]Pos
	Parallelism int      `yaml:"parallelism"` // default 4
	LeaseTTL    Duration `yaml:"lease_ttl"`   // default 15s
	// RenewDeadline: a replica that has not renewed a rollback's lease for
	// this long stops its steps and gives the rollback up; below LeaseTTL
	// so they are stopped before the lease runs out. Default 10s.
	RenewDeadline Duration `yaml:"renew_deadline"`
	KillGrace     Duration `yaml:"kill_grace"`   // default 5s
	OutputLimit   int      `yaml:"output_limit"` // bytes kept per step stream, default 64 KiB
	// OutputEvery paces how often a running step's new output is recorded
	// and shown in the thread; default 5s.
	OutputEvery Duration `yaml:"output_every"`
	// AutoResume: whether a rollback interrupted while every step in flight
	// was idempotent resumes without a person: idempotent (default) | never.
	AutoResume string `yaml:"auto_resume"`
	// ShutdownGrace is how long SIGTERM lets running non-idempotent steps
	// finish before they are stopped too; default 10m, 0 stops them at once.
	ShutdownGrace Duration `yaml:"shutdown_grace"`
}

// AuditConfig says where the audit chain's head is anchored. The key that
// signs the chain is a secret: BACKOUT_AUDIT_KEY, never the file.
type AuditConfig struct {
	Pos    Pos
	KeyPos map[string]Pos
	// Channel receives each anchor, out of reach of whoever can write to
	// the store; empty: anchors are only logged.
	Channel string `yaml:"channel"`
	// AnchorEvery is how often the head is anchored (and once at
	// shutdown); default 1h.
	AnchorEvery Duration `yaml:"anchor_every"`
}

// Engine.AutoResume values.
const (
	AutoResumeIdempotent = "idempotent"
	AutoResumeNever      = "never"
)

// Service is one entry of the catalog.
type Service struct {
	Pos               Pos
	KeyPos            map[string]Pos
	Name              string            `yaml:"name"`
	Owners            []string          `yaml:"owners"`
	Channel           string            `yaml:"channel"`
	PagerDutyServices []string          `yaml:"pagerduty_services"`
	AlertLabels       map[string]string `yaml:"alert_labels"`
	DependsOn         []string          `yaml:"depends_on"`
	CompatibleWith    map[string]string `yaml:"compatible_with"`
	Runbook           string            `yaml:"runbook"`
	Params            map[string]string `yaml:"params"`
	Approval          string            `yaml:"approval"`
	RecoveryTarget    Duration          `yaml:"recovery_target"`
	MaxDataLoss       *Duration         `yaml:"max_data_loss"` // nil: not set; "0": no loss allowed
	StableAfter       Duration          `yaml:"stable_after"`
	Cooldown          Duration          `yaml:"cooldown"`
	Environment       string            `yaml:"environment"`
	SupportChannel    string            `yaml:"support_channel"`
	// SupportWindow is how long after a successful rollback the support
	// channel may report users still affected (default 2h).
	SupportWindow Duration     `yaml:"support_window"`
	Constraints   string       `yaml:"constraints"`
	AutoExecute   AutoExecute  `yaml:"auto_execute"`
	WatchFor      Duration     `yaml:"watch_for"`
	Watchers      []Watcher    `yaml:"watchers"`
	Drill         *DrillPolicy `yaml:"drill"`
}

// Watcher is a post-deploy PromQL trigger.
type Watcher struct {
	Pos      Pos
	KeyPos   map[string]Pos
	Name     string   `yaml:"name"`
	Query    string   `yaml:"query"`
	Above    *float64 `yaml:"above"`
	Below    *float64 `yaml:"below"`
	Interval Duration `yaml:"interval"`
	// Breaches is how many consecutive breaches trigger a proposal (default 3).
	Breaches int `yaml:"breaches"`
}

// DrillPolicy.Mode values.
const (
	DrillModeDryRun      = "dry-run"
	DrillModeEnvironment = "environment"
)

// DrillPolicy schedules a service's drills.
type DrillPolicy struct {
	Pos          Pos
	KeyPos       map[string]Pos
	Schedule     string   `yaml:"schedule"`
	RemindBefore Duration `yaml:"remind_before"`
	// Mode is dry-run (executors preview only) or environment (real steps
	// against Environment).
	Mode        string            `yaml:"mode"`
	Environment string            `yaml:"environment"`
	Params      map[string]string `yaml:"params"`
	// WaiveApproval lets the drill run without votes.
	WaiveApproval bool     `yaml:"waive_approval"`
	MaxAge        Duration `yaml:"max_age"`
}

// ServiceByName finds a catalog entry.
func (c *Config) ServiceByName(name string) (*Service, bool) {
	for i := range c.Services {
		if c.Services[i].Name == name {
			return &c.Services[i], true
		}
	}
	return nil, false
}

// Policy returns the approval policy for a service (its named policy, or the
// "default" policy, or a built-in single approval).
func (c *Config) Policy(s *Service) ApprovalPolicy {
	if s != nil && s.Approval != "" {
		if p, ok := c.Approvals[s.Approval]; ok {
			return p
		}
	}
	if p, ok := c.Approvals["default"]; ok {
		return p
	}
	return ApprovalPolicy{Min: 1}
}

// RunbooksDir is the runbook directory resolved against the config file.
func (c *Config) RunbooksDir() string { return c.resolve(c.Runbooks) }

// StorePath is the bolt file resolved against the config file.
func (c *Config) StorePath() string { return c.resolve(c.Store.Path) }

func (c *Config) resolve(p string) string {
	if p == "" || filepath.IsAbs(p) || c.File == "" {
		return p
	}
	return filepath.Join(filepath.Dir(c.File), p)
}

// Load reads, decodes, defaults and validates a config file, and reads the
// secrets from the environment via getenv (os.Getenv when nil).
func Load(path string, getenv func(string) string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, data, getenv)
}

// Parse is Load on bytes already read. On error it still returns what it
// could decode (nil only for a file that is not YAML), so lint can go on
// checking the rest; such a config must not be used to run.
func Parse(path string, data []byte, getenv func(string) string) (*Config, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	var errs yamlx.Errors
	checkNoSecrets(path, data, &errs)
	checkNoControl(path, data, &errs)
	secretAt := map[yamlx.Pos]bool{}
	for _, e := range errs {
		secretAt[e.Pos] = true
	}
	var c Config
	var decodeErrs yamlx.Errors
	decodeErrs.Add(yamlx.Pos{File: path}, yamlx.Unmarshal(path, data, &c))
	for _, e := range decodeErrs {
		if !secretAt[e.Pos] { // the secret message already explains this key
			errs = append(errs, e)
		}
	}
	syntax := len(decodeErrs) == 1 && strings.HasPrefix(decodeErrs[0].Msg, "invalid YAML")
	c.File = path
	c.Secrets = SecretsFromEnv(getenv)
	if syntax {
		return nil, errs.Err()
	}
	c.applyDefaults()
	c.validate(&errs)
	return &c, errs.Err()
}
