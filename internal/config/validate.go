package config

import (
	"fmt"
	"github.com/backout/backout/internal/suggest"
	"iter"
	"maps"
	"math"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/backout/backout/internal/authz"
	"github.com/backout/backout/internal/datarule"
	"github.com/backout/backout/internal/human"
	"github.com/backout/backout/internal/version"
	"github.com/backout/backout/internal/yamlx"
)

// DefaultSlackAPIURL is Slack's Web API base.
const DefaultSlackAPIURL = "https://slack.com/api/"

// applyDefaults fills what the file left out, before validation reads it.
func (c *Config) applyDefaults() {
	if c.Listen == "" {
		c.Listen = ":8080"
	}
	if c.Store.Kind == "" {
		c.Store.Kind = "bolt"
	}
	if c.Store.Kind == "bolt" && c.Store.Path == "" {
		c.Store.Path = "backout.db"
	}
	if c.Store.Kind == "redis" && c.Store.Prefix == "" {
		c.Store.Prefix = "backout:"
	}
	if c.Slack.APIURL == "" {
		c.Slack.APIURL = DefaultSlackAPIURL
	}
	if !strings.HasSuffix(c.Slack.APIURL, "/") {
		c.Slack.APIURL += "/"
	}
	if c.Slack.Command == "" {
		c.Slack.Command = "/rollback"
	}
	if c.PagerDuty.APIURL == "" {
		c.PagerDuty.APIURL = "https://api.pagerduty.com"
	}
	if c.PagerDuty.EventsURL == "" {
		c.PagerDuty.EventsURL = "https://events.pagerduty.com"
	}
	if c.PagerDuty.SuspectWindow == 0 {
		c.PagerDuty.SuspectWindow = Duration(2 * time.Hour)
	}
	if c.Runbooks == "" {
		c.Runbooks = "runbooks"
	}
	if c.Drills.MaxAge == 0 {
		c.Drills.MaxAge = Duration(90 * 24 * time.Hour)
	}
	if c.Drills.MaxAgeHighRisk == 0 {
		c.Drills.MaxAgeHighRisk = Duration(7 * 24 * time.Hour)
	}
	if c.Drills.ReportSchedule == "" {
		c.Drills.ReportSchedule = "0 9 * * MON"
	}
	c.Engine.applyDefaults()
	if c.Audit.AnchorEvery == 0 {
		c.Audit.AnchorEvery = Duration(time.Hour)
	}
	for i := range c.Services {
		c.Services[i].applyDefaults(c.Slack.Channel)
	}
}

// applyDefaults fills what engine: left out.
func (e *EngineConfig) applyDefaults() {
	if e.Parallelism == 0 {
		e.Parallelism = 4
	}
	if e.LeaseTTL == 0 {
		e.LeaseTTL = Duration(15 * time.Second)
	}
	if e.RenewDeadline == 0 && e.LeaseTTL > 0 {
		// Two thirds, as client-go's leader election (15s, 10s): always
		// valid, and it follows a lease_ttl set alone.
		e.RenewDeadline = e.LeaseTTL * 2 / 3
	}
	if e.KillGrace == 0 {
		e.KillGrace = Duration(5 * time.Second)
	}
	if e.OutputLimit == 0 {
		e.OutputLimit = 64 << 10
	}
	if e.OutputEvery == 0 {
		e.OutputEvery = Duration(5 * time.Second)
	}
	if _, set := e.KeyPos["shutdown_grace"]; !set {
		// Set explicitly, 0s is kept: stop every step at once.
		e.ShutdownGrace = Duration(10 * time.Minute)
	}
	if e.AutoResume == "" {
		e.AutoResume = AutoResumeIdempotent
	}
}

// applyDefaults fills what a service left out; channel is the bot's own.
func (s *Service) applyDefaults(channel string) {
	if s.Channel == "" {
		s.Channel = channel
	}
	if s.AutoExecute.Mode == "" {
		s.AutoExecute.Mode = AutoNever
	}
	if s.StableAfter == 0 {
		s.StableAfter = Duration(time.Hour)
	}
	if s.Cooldown == 0 {
		s.Cooldown = Duration(30 * time.Minute)
	}
	if s.SupportWindow == 0 {
		s.SupportWindow = Duration(2 * time.Hour)
	}
	if s.WatchFor == 0 && len(s.Watchers) > 0 {
		s.WatchFor = Duration(30 * time.Minute)
	}
	for j := range s.Watchers {
		w := &s.Watchers[j]
		if w.Interval == 0 {
			w.Interval = Duration(30 * time.Second)
		}
		if w.Breaches == 0 {
			w.Breaches = 3
		}
	}
	if s.Drill != nil && s.Drill.Mode == "" {
		s.Drill.Mode = DrillModeDryRun
	}
}

var (
	envName     = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	serviceName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	cronParser  = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)
)

// ParseSchedule parses a 5-field cron expression, with an optional CRON_TZ=
// prefix, in the given default time zone.
func ParseSchedule(expr, defaultTZ string) (cron.Schedule, error) {
	if defaultTZ != "" && !strings.HasPrefix(expr, "CRON_TZ=") && !strings.HasPrefix(expr, "TZ=") {
		expr = "CRON_TZ=" + defaultTZ + " " + expr
	}
	s, err := cronParser.Parse(expr)
	if err != nil {
		return nil, fmt.Errorf("invalid cron expression %q: %v", expr, err)
	}
	return s, nil
}

// minDedupMaxKeys is the least store.dedup_max_keys: below it a burst of
// retries could outrun the dedup window within minutes.
const minDedupMaxKeys = 10_000

func (c *Config) validate(errs *yamlx.Errors) {
	switch c.Store.Kind {
	case "bolt":
		if c.Store.RequirePersistence {
			errs.Addf(yamlx.KeyAt(c.Store.Pos, c.Store.KeyPos, "require_persistence"),
				"store.require_persistence: applies to kind redis only (a bolt file is always on disk)")
		}
		if n := c.Store.DedupMaxKeys; n != 0 && n < minDedupMaxKeys {
			errs.Addf(yamlx.KeyAt(c.Store.Pos, c.Store.KeyPos, "dedup_max_keys"),
				"store.dedup_max_keys: %d is below %d; leave it out for the default (1000000)", n, minDedupMaxKeys)
		}
	case "redis":
		if c.Store.DedupMaxKeys != 0 {
			errs.Addf(yamlx.KeyAt(c.Store.Pos, c.Store.KeyPos, "dedup_max_keys"),
				"store.dedup_max_keys: applies to kind bolt only (Redis keeps dedup keys itself, with their TTL)")
		}
		if c.Store.URL == "" {
			errs.Addf(c.Store.Pos, "store: kind redis needs url (e.g. redis://127.0.0.1:6379/0)")
		} else if u, err := url.Parse(c.Store.URL); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") {
			errs.Addf(yamlx.KeyAt(c.Store.Pos, c.Store.KeyPos, "url"), "store.url: %q is not a redis:// or rediss:// URL", c.Store.URL)
		}
	default:
		errs.Addf(yamlx.KeyAt(c.Store.Pos, c.Store.KeyPos, "kind"), "store.kind: unknown kind %q (want bolt or redis)", c.Store.Kind)
	}
	for field, raw := range map[string]string{"slack.api_url": c.Slack.APIURL, "pagerduty.api_url": c.PagerDuty.APIURL,
		"pagerduty.events_url": c.PagerDuty.EventsURL,
		"prometheus.url":       c.Prometheus.URL, "registry.url": c.Registry.URL, "public_url": c.PublicURL,
		"postmortem.webhook_url": c.Postmortem.WebhookURL} {
		if raw == "" {
			continue
		}
		if u, err := url.Parse(raw); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs.Addf(yamlx.KeyAt(c.Pos, c.KeyPos, field), "%s: %q is not an http(s) URL", field, raw)
		}
	}
	if n := c.PagerDuty.RoutingKeyEnv; n != "" && !envName.MatchString(n) {
		errs.Addf(yamlx.KeyAt(c.Pos, c.KeyPos, "pagerduty.routing_key_env"),
			"pagerduty.routing_key_env: %q is not an environment variable name; name the variable that holds the routing key (e.g. PAGERDUTY_ROUTING_KEY)", n)
	}
	c.validateDrills(errs)
	c.validateEngine(errs)
	c.validateAudit(errs)
	for name, g := range c.Groups {
		if len(g.Members) == 0 && g.SlackUsergroup == "" {
			errs.Addf(g.Pos, "groups.%s: needs members or slack_usergroup", name)
		}
	}
	for name, p := range c.Approvals {
		c.validatePolicy("approvals."+name, p, errs)
	}
	c.validateServices(errs)
	c.validatePermissions(errs)
}

// validatePermissions places each problem of permissions: at the principal
// at fault, else at its action's key.
func (c *Config) validatePermissions(errs *yamlx.Errors) {
	for _, p := range authz.Validate(c.Permissions, c.KnownGroup) {
		path := "permissions." + p.Action
		if p.Principal >= 0 {
			path += fmt.Sprintf("[%d]", p.Principal)
		}
		errs.Addf(yamlx.KeyAt(c.Pos, c.KeyPos, path), "%s", p.Msg)
	}
}

// validateDrills checks drills:. The report schedule is read in the
// drills' time zone, so a bad zone fails the (default) schedule too: with
// no schedule written, that error sits at the zone.
func (c *Config) validateDrills(errs *yamlx.Errors) {
	zone := yamlx.KeyAt(c.Drills.Pos, c.KeyPos, "drills.timezone")
	if c.Drills.Timezone != "" {
		if _, err := time.LoadLocation(c.Drills.Timezone); err != nil {
			errs.Addf(zone, "drills.timezone: unknown time zone %q", c.Drills.Timezone)
		}
	}
	if _, err := ParseSchedule(c.Drills.ReportSchedule, c.Drills.Timezone); err != nil {
		at := zone
		if p, written := c.KeyPos["drills.report_schedule"]; written {
			at = p
		}
		errs.Addf(at, "drills.report_schedule: %v", err)
	}
}

func (c *Config) validateEngine(errs *yamlx.Errors) {
	e := c.Engine
	at := func(key string) Pos { return yamlx.KeyAt(e.Pos, e.KeyPos, key) }
	if e.Parallelism < 0 {
		errs.Addf(at("parallelism"), "engine.parallelism: must be 1 or more (default 4)")
	}
	if e.OutputLimit < 0 {
		errs.Addf(at("output_limit"), "engine.output_limit: must be a positive number of bytes (default 65536)")
	}
	if e.LeaseTTL < 0 {
		errs.Addf(at("lease_ttl"), "engine.lease_ttl: must be positive (default 15s)")
	}
	switch {
	case e.RenewDeadline < 0:
		errs.Addf(at("renew_deadline"), "engine.renew_deadline: must be positive (default two thirds of engine.lease_ttl: 10s)")
	case e.LeaseTTL > 0 && e.RenewDeadline >= e.LeaseTTL:
		errs.Addf(at("renew_deadline"), "engine.renew_deadline: %s must be shorter than engine.lease_ttl (%s), so a replica that cannot renew stops its steps before its lease runs out",
			human.Duration(e.RenewDeadline.D()), human.Duration(e.LeaseTTL.D()))
	}
	if e.KillGrace < 0 {
		errs.Addf(at("kill_grace"), "engine.kill_grace: must be positive (default 5s)")
	}
	if e.ShutdownGrace < 0 {
		errs.Addf(at("shutdown_grace"), "engine.shutdown_grace: must be 0 or more (default 10m)")
	}
	if e.OutputEvery < 0 {
		errs.Addf(at("output_every"), "engine.output_every: must be positive (default 5s)")
	}
	switch e.AutoResume {
	case AutoResumeIdempotent, AutoResumeNever:
	default:
		errs.Addf(at("auto_resume"), "engine.auto_resume: unknown value %q (want idempotent or never)", e.AutoResume)
	}
}

// MinAuditKey is the shortest BACKOUT_AUDIT_KEY accepted: an HMAC key
// shorter than 16 bytes could be guessed.
const MinAuditKey = 16

// minAnchorEvery keeps anchors from flooding their channel.
const minAnchorEvery = time.Minute

// slackChannelID is a Slack channel ID (public C…, private G…).
var slackChannelID = regexp.MustCompile(`^[CG][A-Z0-9]{2,}$`)

func (c *Config) validateAudit(errs *yamlx.Errors) {
	a := c.Audit
	at := func(key string) Pos { return yamlx.KeyAt(a.Pos, a.KeyPos, key) }
	if a.AnchorEvery < Duration(minAnchorEvery) {
		errs.Addf(at("anchor_every"), "audit.anchor_every: must be at least 1m (default 1h)")
	}
	if a.Channel != "" && !slackChannelID.MatchString(a.Channel) {
		errs.Addf(at("channel"), "audit.channel: %q is not a Slack channel ID (like C0123AUDIT)", a.Channel)
	}
	if k := c.Secrets.AuditKey; k.Set() && len(k.Reveal()) < MinAuditKey {
		errs.Addf(Pos{File: c.File}, "BACKOUT_AUDIT_KEY: must be at least %d bytes (e.g. openssl rand -hex 32)", MinAuditKey)
	}
}

func (c *Config) validatePolicy(field string, p ApprovalPolicy, errs *yamlx.Errors) {
	if p.Min < 0 {
		errs.Addf(yamlx.KeyAt(p.Pos, p.KeyPos, "min"), "%s.min: must be 0 or more", field)
	}
	if voters, known := c.voters(p); known && p.Min > len(voters) {
		who := fmt.Sprintf("%d people may", len(voters))
		if len(voters) == 1 {
			who = "1 person may"
		}
		errs.Addf(yamlx.KeyAt(p.Pos, p.KeyPos, "min"), "%s.min: %d approvals needed, but only %s vote (%s), so it could never be met",
			field, p.Min, who, strings.Join(voters, ", "))
	}
	for at, g := range c.UnknownGroups(p) {
		errs.Addf(at, "%s: unknown group %q%s", field, g, c.GroupHint(g, " (define it under groups: or use a Slack user group ID like S0123ABCD)"))
	}
}

// voters is everyone who may vote under p, sorted, when the policy alone
// says who they are: it names users or groups (listed member by member),
// whose members and its roles' vote. A policy naming neither lets each
// service's owners vote (incident's approversOf), and a Slack user group
// has no size here; known is then false.
func (c *Config) voters(p ApprovalPolicy) (voters []string, known bool) {
	if len(p.Groups) == 0 && len(p.Users) == 0 {
		return nil, false
	}
	set := map[string]bool{}
	for _, u := range p.Users {
		set[u] = true
	}
	for _, name := range append(slices.Clone(p.Groups), p.Roles...) {
		g, ok := c.Groups[name]
		if !ok || g.SlackUsergroup != "" {
			return nil, false // a Slack user group, or unknown (reported on its own)
		}
		for _, m := range g.Members {
			set[m] = true
		}
	}
	return slices.Sorted(maps.Keys(set)), true
}

// UnknownGroups yields each group p names (groups, roles, override) that c
// does not know, with where it was written. Config's approval policies and
// runbooks' both check theirs with it, so neither can miss a list.
func (c *Config) UnknownGroups(p ApprovalPolicy) iter.Seq2[Pos, string] {
	return func(yield func(Pos, string) bool) {
		for _, list := range []struct {
			key    string
			groups []string
		}{{"groups", p.Groups}, {"roles", p.Roles}, {"override", p.Override}} {
			for i, g := range list.groups {
				if !c.KnownGroup(g) && !yield(yamlx.KeyAt(p.Pos, p.KeyPos, fmt.Sprintf("%s[%d]", list.key, i)), g) {
					return
				}
			}
		}
	}
}

// GroupHint ends a message about an unknown group: the defined group it
// most likely meant, else otherwise (how to define one).
func (c *Config) GroupHint(name, otherwise string) string {
	if h := suggest.Hint(name, slices.Sorted(maps.Keys(c.Groups))); h != "" {
		return h
	}
	return otherwise
}

// serviceNames lists the catalog's service names, for "did you mean".
func (c *Config) serviceNames() []string {
	names := make([]string, 0, len(c.Services))
	for _, s := range c.Services {
		names = append(names, s.Name)
	}
	return names
}

var usergroupID = regexp.MustCompile(`^S[A-Z0-9]{6,}$`)

// KnownGroup reports whether name is a configured group or a Slack user group ID.
func (c *Config) KnownGroup(name string) bool {
	_, ok := c.Groups[name]
	return ok || usergroupID.MatchString(name)
}

func (c *Config) validateServices(errs *yamlx.Errors) {
	byName := map[string]*Service{}
	for i := range c.Services {
		s := &c.Services[i]
		name := yamlx.KeyAt(s.Pos, s.KeyPos, "name")
		if s.Name == "" {
			errs.Addf(s.Pos, "services[%d]: name is required", i)
			continue
		}
		if !serviceName.MatchString(s.Name) {
			errs.Addf(name, "services[%d]: name %q must be lower-case letters, digits and dashes", i, s.Name)
		}
		if _, dup := byName[s.Name]; dup {
			errs.Addf(name, "services: duplicate service %q", s.Name)
		}
		byName[s.Name] = s
	}
	for i := range c.Services {
		c.validateService(&c.Services[i], byName, errs)
	}
	c.validateReleases(byName, errs)
	for _, cyc := range dependencyCycles(c.Services) {
		// at the first edge of the cycle: cyc[0]'s depends_on item naming cyc[1]
		s := byName[cyc[0]]
		at := yamlx.KeyAt(s.Pos, s.KeyPos, "depends_on")
		if j := slices.Index(s.DependsOn, cyc[1]); j >= 0 {
			at = yamlx.KeyAt(s.Pos, s.KeyPos, fmt.Sprintf("depends_on[%d]", j))
		}
		errs.Addf(at, "services: depends_on cycle %s", strings.Join(cyc, " -> "))
	}
}

// validateService checks one catalog entry; byName is the catalog. Each
// problem sits at the key or item at fault, a missing key at the entry.
func (c *Config) validateService(s *Service, byName map[string]*Service, errs *yamlx.Errors) {
	where := "services." + s.Name
	at := func(path string) Pos { return yamlx.KeyAt(s.Pos, s.KeyPos, path) }
	if s.Runbook == "" {
		errs.Addf(s.Pos, "%s: runbook is required", where)
	}
	if s.Channel == "" {
		errs.Addf(s.Pos, "%s: channel is required (or set slack.channel)", where)
	}
	validateSupport(s, where, errs)
	if s.Approval != "" {
		if _, ok := c.Approvals[s.Approval]; !ok {
			errs.Addf(at("approval"), "%s.approval: unknown approval policy %q%s", where, s.Approval, suggest.HintOrList(s.Approval, slices.Sorted(maps.Keys(c.Approvals))))
		}
	}
	if _, err := datarule.ParseConstraints(s.Constraints); err != nil {
		errs.Addf(at("constraints"), "%s.constraints: %v", where, err)
	}
	for j, d := range s.DependsOn {
		if _, ok := byName[d]; !ok {
			errs.Addf(at(fmt.Sprintf("depends_on[%d]", j)), "%s.depends_on: unknown service %q%s", where, d, suggest.Hint(d, c.serviceNames()))
		}
	}
	for peer, cons := range s.CompatibleWith {
		if _, ok := byName[peer]; !ok {
			errs.Addf(at("compatible_with."+peer), "%s.compatible_with: unknown service %q%s", where, peer, suggest.Hint(peer, c.serviceNames()))
		}
		if _, err := version.ParseConstraint(cons); err != nil {
			errs.Addf(at("compatible_with."+peer), "%s.compatible_with.%s: %v", where, peer, err)
		}
	}
	for label, value := range s.AlertLabels {
		if expr, ok := strings.CutPrefix(value, "~"); ok {
			if _, err := regexp.Compile("^(?:" + expr + ")$"); err != nil {
				errs.Addf(at("alert_labels."+label), "%s.alert_labels.%s: invalid regular expression %q: %v", where, label, expr, err)
			}
		}
	}
	for j, w := range s.Watchers {
		validateWatcher(fmt.Sprintf("%s.watchers[%d]", where, j), w, errs)
	}
	if s.Drill != nil {
		c.validateDrill(where+".drill", s.Drill, errs)
	}
}

func validateWatcher(where string, w Watcher, errs *yamlx.Errors) {
	if w.Query == "" {
		errs.Addf(w.Pos, "%s: query is required", where)
	}
	if w.Above == nil && w.Below == nil {
		errs.Addf(w.Pos, "%s: set above or below", where)
	}
	if w.Breaches < 0 {
		errs.Addf(yamlx.KeyAt(w.Pos, w.KeyPos, "breaches"), "%s.breaches: must be 1 or more (default 3)", where)
	}
	for key, b := range map[string]*float64{"above": w.Above, "below": w.Below} {
		if b != nil && (math.IsNaN(*b) || math.IsInf(*b, 0)) {
			errs.Addf(yamlx.KeyAt(w.Pos, w.KeyPos, key), "%s.%s: must be a finite number", where, key)
		}
	}
}

func (c *Config) validateDrill(where string, d *DrillPolicy, errs *yamlx.Errors) {
	if d.Schedule != "" {
		if _, err := ParseSchedule(d.Schedule, c.Drills.Timezone); err != nil {
			errs.Addf(yamlx.KeyAt(d.Pos, d.KeyPos, "schedule"), "%s.schedule: %v", where, err)
		}
	}
	if d.Mode != DrillModeDryRun && d.Mode != DrillModeEnvironment {
		errs.Addf(yamlx.KeyAt(d.Pos, d.KeyPos, "mode"), "%s.mode: unknown mode %q (want dry-run or environment)", where, d.Mode)
	}
	if d.Mode == DrillModeEnvironment && d.Environment == "" {
		errs.Addf(d.Pos, "%s: mode environment needs environment", where)
	}
}

// validateReleases checks that each release lists known services, each
// unknown one at its item.
func (c *Config) validateReleases(byName map[string]*Service, errs *yamlx.Errors) {
	for name, members := range c.Releases {
		if len(members) == 0 {
			errs.Addf(yamlx.KeyAt(c.Pos, c.KeyPos, "releases."+name), "releases.%s: list its services", name)
		}
		for j, m := range members {
			if _, ok := byName[m]; !ok {
				errs.Addf(yamlx.KeyAt(c.Pos, c.KeyPos, fmt.Sprintf("releases.%s[%d]", name, j)), "releases.%s: unknown service %q%s", name, m, suggest.Hint(m, c.serviceNames()))
			}
		}
	}
}

// dependencyCycles finds each cycle in depends_on once, as a path a -> b -> a.
func dependencyCycles(services []Service) [][]string {
	deps := map[string][]string{}
	var names []string
	for _, s := range services {
		deps[s.Name] = s.DependsOn
		names = append(names, s.Name)
	}
	return FindCycles(names, deps)
}

// FindCycles returns the cycles of a directed graph given in node order; each
// cycle is reported once, starting from its earliest node, closed (a, b, a).
func FindCycles(order []string, edges map[string][]string) [][]string {
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	var stack []string
	var cycles [][]string
	seen := map[string]bool{}
	var visit func(n string)
	visit = func(n string) {
		color[n] = grey
		stack = append(stack, n)
		for _, m := range edges[n] {
			if _, known := edges[m]; !known {
				continue
			}
			switch color[m] {
			case white:
				visit(m)
			case grey:
				i := len(stack) - 1
				for stack[i] != m {
					i--
				}
				cyc := append(append([]string{}, stack[i:]...), m)
				key := canonical(cyc)
				if !seen[key] {
					seen[key] = true
					cycles = append(cycles, cyc)
				}
			}
		}
		stack = stack[:len(stack)-1]
		color[n] = black
	}
	for _, n := range order {
		if color[n] == white {
			visit(n)
		}
	}
	return cycles
}

func canonical(cyc []string) string {
	ring := cyc[:len(cyc)-1]
	best := 0
	for i := range ring {
		if ring[i] < ring[best] {
			best = i
		}
	}
	rot := append(append([]string{}, ring[best:]...), ring[:best]...)
	return strings.Join(rot, ">")
}

// validateSupport checks the support check of a service: a window set
// needs a channel to ask in. (A negative window is no duration: decoding
// refuses it.)
func validateSupport(s *Service, where string, errs *yamlx.Errors) {
	if _, set := s.KeyPos["support_window"]; set && s.SupportChannel == "" {
		errs.Addf(yamlx.KeyAt(s.Pos, s.KeyPos, "support_window"),
			"%s.support_window: set support_channel too; without it nobody is asked whether users are still affected", where)
	}
}
