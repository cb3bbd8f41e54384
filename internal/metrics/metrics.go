// Package metrics defines Backout's Prometheus metrics (conventional names,
// base units) and implements the small metrics hooks of the other packages.
package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics holds every collector, registered on its own registry (not the
// global one, so tests can build several).
type Metrics struct {
	Registry *prometheus.Registry

	Rollbacks           *prometheus.CounterVec
	PhaseDuration       *prometheus.HistogramVec
	ApprovalLatencySecs prometheus.Histogram
	StepResults         *prometheus.CounterVec
	ValidationOutcomes  *prometheus.CounterVec
	Drills              *prometheus.CounterVec
	DrillsOverdue       *prometheus.GaugeVec
	RollbacksOpen       *prometheus.GaugeVec
	WebhookEvents       *prometheus.CounterVec
	WebhookDedupHits    *prometheus.CounterVec
	ChatAPIErrors       *prometheus.CounterVec
	ChatRateLimited     *prometheus.CounterVec
	PagerDutyAPIErrors  *prometheus.CounterVec
	PagerDutyRateLimits prometheus.Counter
	HTTPRequests        *prometheus.CounterVec
	HTTPDuration        *prometheus.HistogramVec
	Suppressed          *prometheus.CounterVec
}

// New creates and registers the collectors.
func New() *Metrics {
	durations := []float64{1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200}
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		Rollbacks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "backout_rollbacks_total",
			Help: "Rollbacks that reached a final state, by service, trigger and outcome."}, []string{"service", "trigger", "outcome"}),
		PhaseDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "backout_rollback_phase_duration_seconds",
			Help: "Duration of each rollback phase (detect, approve, execute, validate, total).", Buckets: durations}, []string{"phase"}),
		ApprovalLatencySecs: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "backout_approval_latency_seconds",
			Help: "Time from proposal to approval.", Buckets: durations}),
		StepResults: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "backout_step_results_total",
			Help: "Runbook step attempts by executor and result (succeeded, failed, retried)."}, []string{"executor", "result"}),
		ValidationOutcomes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "backout_validation_outcomes_total",
			Help: "Validation check outcomes."}, []string{"check", "outcome"}),
		Drills: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "backout_drills_total",
			Help: "Drills that ended, by service and outcome."}, []string{"service", "outcome"}),
		DrillsOverdue: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "backout_drill_overdue",
			Help: "1 when a service has no successful drill within its policy period."}, []string{"service"}),
		RollbacksOpen: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "backout_rollbacks_open",
			Help: "Rollbacks not yet in a final state, by state."}, []string{"state"}),
		WebhookEvents: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "backout_webhook_events_total",
			Help: "Inbound webhook events by source and result (accepted, duplicate, ignored, rejected, error)."}, []string{"source", "result"}),
		WebhookDedupHits: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "backout_webhook_dedup_hits_total",
			Help: "Webhook events dropped as duplicates."}, []string{"source"}),
		ChatAPIErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "backout_slack_api_errors_total",
			Help: "Slack Web API calls that failed after retries."}, []string{"method"}),
		ChatRateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "backout_slack_rate_limited_total",
			Help: "Slack Web API calls answered with a rate limit."}, []string{"method"}),
		PagerDutyAPIErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "backout_pagerduty_api_errors_total",
			Help: "PagerDuty API calls that failed after retries."}, []string{"operation"}),
		PagerDutyRateLimits: prometheus.NewCounter(prometheus.CounterOpts{Name: "backout_pagerduty_rate_limited_total",
			Help: "PagerDuty API calls answered with 429."}),
		HTTPRequests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "backout_http_requests_total",
			Help: "HTTP requests served, by route and status code."}, []string{"route", "code"}),
		HTTPDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "backout_http_request_duration_seconds",
			Help: "HTTP request latency by route.", Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1, 3}}, []string{"route"}),
		Suppressed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "backout_proposals_suppressed_total",
			Help: "Automatic proposals suppressed, by reason."}, []string{"reason"}),
	}
	m.Registry.MustRegister(m.Rollbacks, m.PhaseDuration, m.ApprovalLatencySecs, m.StepResults, m.ValidationOutcomes,
		m.Drills, m.DrillsOverdue, m.RollbacksOpen, m.WebhookEvents, m.WebhookDedupHits, m.ChatAPIErrors, m.ChatRateLimited,
		m.PagerDutyAPIErrors, m.PagerDutyRateLimits, m.HTTPRequests, m.HTTPDuration, m.Suppressed,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// The methods below implement incident.Metrics.

// RollbackEnded counts a finished rollback.
func (m *Metrics) RollbackEnded(service, trigger, outcome string) {
	m.Rollbacks.WithLabelValues(service, trigger, outcome).Inc()
}

// Phase observes one phase duration.
func (m *Metrics) Phase(phase string, d time.Duration) {
	m.PhaseDuration.WithLabelValues(phase).Observe(d.Seconds())
}

// ApprovalLatency observes time to approve.
func (m *Metrics) ApprovalLatency(d time.Duration) { m.ApprovalLatencySecs.Observe(d.Seconds()) }

// StepResult counts a step attempt.
func (m *Metrics) StepResult(executor, result string) {
	m.StepResults.WithLabelValues(executor, result).Inc()
}

// ValidationOutcome counts a validation result.
func (m *Metrics) ValidationOutcome(check, outcome string) {
	m.ValidationOutcomes.WithLabelValues(check, outcome).Inc()
}

// DrillEnded counts a drill.
func (m *Metrics) DrillEnded(service string, succeeded bool) {
	outcome := "failed"
	if succeeded {
		outcome = "succeeded"
	}
	m.Drills.WithLabelValues(service, outcome).Inc()
}

// ProposalSuppressed counts a suppressed automatic proposal.
func (m *Metrics) ProposalSuppressed(reason string) { m.Suppressed.WithLabelValues(reason).Inc() }

// APIError counts a failed Slack call (chat/slack's hook).
func (m *Metrics) APIError(method string) { m.ChatAPIErrors.WithLabelValues(method).Inc() }

// RateLimited counts a rate-limited Slack call (chat/slack's hook).
func (m *Metrics) RateLimited(method string) { m.ChatRateLimited.WithLabelValues(method).Inc() }

// Overdue sets a service's drill-overdue gauge (drill's hook).
func (m *Metrics) Overdue(service string, overdue bool) {
	v := 0.0
	if overdue {
		v = 1
	}
	m.DrillsOverdue.WithLabelValues(service).Set(v)
}

// The methods below implement alerts.Metrics.

// Received counts an accepted webhook event.
func (m *Metrics) Received(source string) { m.WebhookEvents.WithLabelValues(source, "accepted").Inc() }

// Duplicate counts a deduplicated webhook event.
func (m *Metrics) Duplicate(source string) {
	m.WebhookEvents.WithLabelValues(source, "duplicate").Inc()
	m.WebhookDedupHits.WithLabelValues(source).Inc()
}

// Rejected counts a refused webhook request.
func (m *Metrics) Rejected(source, _ string) {
	m.WebhookEvents.WithLabelValues(source, "rejected").Inc()
}

// Ignored counts an event deliberately dropped.
func (m *Metrics) Ignored(source, _ string) { m.WebhookEvents.WithLabelValues(source, "ignored").Inc() }

// Processed counts an alert handed to the lifecycle.
func (m *Metrics) Processed(source string) {
	m.WebhookEvents.WithLabelValues(source, "processed").Inc()
}

// Failed counts an intake or processing error.
func (m *Metrics) Failed(source, _ string) { m.WebhookEvents.WithLabelValues(source, "error").Inc() }

// OpenRollbacks sets the open-rollbacks gauge for each state (incident's hook).
func (m *Metrics) OpenRollbacks(byState map[string]int) {
	for state, n := range byState {
		m.RollbacksOpen.WithLabelValues(state).Set(float64(n))
	}
}
