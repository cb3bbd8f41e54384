package incident

import "time"

// Metrics receives lifecycle measurements (internal/metrics implements it
// with Prometheus collectors).
type Metrics interface {
	RollbackEnded(service, trigger, outcome string)
	Phase(phase string, d time.Duration)
	ApprovalLatency(d time.Duration)
	StepResult(executor, result string)
	ValidationOutcome(check, outcome string)
	DrillEnded(service string, succeeded bool)
	ProposalSuppressed(reason string)
	// OpenRollbacks reports how many rollbacks are in each open state.
	OpenRollbacks(byState map[string]int)
}

// NoopMetrics discards measurements.
type NoopMetrics struct{}

func (NoopMetrics) RollbackEnded(string, string, string) {}
func (NoopMetrics) Phase(string, time.Duration)          {}
func (NoopMetrics) ApprovalLatency(time.Duration)        {}
func (NoopMetrics) StepResult(string, string)            {}
func (NoopMetrics) ValidationOutcome(string, string)     {}
func (NoopMetrics) DrillEnded(string, bool)              {}
func (NoopMetrics) ProposalSuppressed(string)            {}
func (NoopMetrics) OpenRollbacks(map[string]int)         {}
