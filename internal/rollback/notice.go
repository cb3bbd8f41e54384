package rollback

import "time"

// A Notice is something the lifecycle tells people: a proposal's thread
// hears what happened to it, a service's channel hears about an alert that
// raised nothing. The lifecycle emits notices; internal/present turns them
// into chat messages, so the core holds no wording and no markup.
//
// Each notice names its rollback (Of) except the few addressed to a
// channel; people are chat user or group IDs, rendered by the adapter.
type Notice interface {
	// Of is the rollback the notice belongs to (nil for channel notices).
	Of() *Record
}

// About is embedded by notices that belong to one rollback.
type About struct{ Rollback *Record }

// Of returns the rollback.
func (a About) Of() *Record { return a.Rollback }

// View is what the main message of a rollback is drawn from.
type View struct {
	Rollback *Record
	Votes    []Vote
	Steps    []StepEvent
}

// The notices, roughly in lifecycle order.
type (
	// AlertIgnored: an alert for a service with no suspect deploy; nothing
	// was proposed. It goes to the service's channel.
	AlertIgnored struct {
		Channel, Service, Source, Kind, Summary string
		Window                                  time.Duration
	}
	// AlertFolded: another alert for a service already being handled.
	AlertFolded struct {
		About
		Service, Source, Summary string
	}
	// AlertUpdated: the triggering incident changed (escalated, acknowledged…).
	// Stakeholders are mentioned when the proposal still needs votes.
	AlertUpdated struct {
		About
		Text         string
		StillNeeds   bool
		Stakeholders []string
	}
	// IncidentResolved: the triggering incident resolved; Stale says the
	// proposal went stale because of it.
	IncidentResolved struct {
		About
		Text  string
		Stale bool
	}
	// Voted: one person approved (Detail: who is still needed) or
	// rejected (Detail: the reason).
	Voted struct {
		About
		User    string
		Approve bool
		Detail  string
		At      time.Time
	}
	// Expired: the proposal's approval window closed.
	Expired struct{ About }
	// AutoApproved: Backout executes without votes, by policy.
	AutoApproved struct {
		About
		Why string
	}
	// Replanned: what the proposal was planned from changed; votes reset.
	Replanned struct {
		About
		OldHash, NewHash string
	}
	// NoLongerApplies: a replan found the proposal cannot stand.
	NoLongerApplies struct {
		About
		Failure Words
	}
	// Blocked: approved, but blocking readiness checks fail.
	Blocked struct {
		About
		Checks []CheckResult
	}
	// Started: the engine took the rollback on.
	Started struct {
		About
		At time.Time
	}
	// Overridden: a person set aside a failing check.
	Overridden struct {
		About
		User, Check, Reason string
	}
	// AbortRequested and Withdrawn: a person stopped a run, or a proposal.
	AbortRequested struct {
		About
		User, Reason string
	}
	Withdrawn struct {
		About
		User, Reason string
	}
	// Paused: a person paused; Holding: the run reached a step boundary
	// and holds there.
	Paused struct {
		About
		User string
	}
	Holding struct{ About }
	// AffectedReported: someone in a support channel reported users still
	// affected after the rollback; the record holds every report.
	AffectedReported struct {
		About
		User string
	}
	// Resumed: a paused run resumed (By a person); or an interrupted one,
	// by a person or (By empty) on Backout's own, with the steps that run
	// again.
	Resumed struct {
		About
		By          string
		Interrupted bool
		AutoResume  int // the nth automatic resume, when By is empty
		MaxAuto     int
		Rerun       Rerun
	}
	// Interrupted: the driver died or stopped mid-run.
	Interrupted struct {
		About
		Why      string
		InFlight []string
		// Undoing are the steps whose compensation was running: its
		// outcome is unknown, and it is not run again.
		Undoing []string
		MaxAuto int
	}
	// DriverGone: an interrupted rollback's last driver is known to be
	// gone (its lease expired and kill_grace passed), so Resume is
	// offered; InFlight are the steps it left started and never finished.
	DriverGone struct {
		About
		Replica  string
		InFlight []string
		Undoing  []string // as in Interrupted
		MaxAuto  int
	}
	// HandedOn: the replica driving the rollback shut down (SIGTERM) and
	// let it go, interrupted, through its lease: the record's ResumeDue
	// says whether it resumes without a person. The step lists hold
	// service/step keys of the steps running when the shutdown began.
	HandedOn struct {
		About
		Replica string // the lease holder that stopped (host-pid)
		Signal  string // what stopped it ("SIGTERM"); empty when unknown
		// Finished and Failed ran to their end during the shutdown grace
		// (non-idempotent steps are let finish).
		Finished, Failed []string
		// Rerun were idempotent and stopped at once: a resume runs them again.
		Rerun []string
		// Unknown were still running when the grace ran out and were
		// stopped: what they did is unknown.
		Unknown []string
		Grace   time.Duration
		MaxAuto int
	}
	// GateWaiting: a step waits for a group's sign-off; GateSigned: one
	// member signed.
	GateWaiting struct {
		About
		Service, Step, Gate, Group, Message string
	}
	GateSigned struct {
		About
		User, Group, Gate string
		At                time.Time
	}
	// Settling: validation of a service waits Delay for it to settle after
	// the last step before any check measures; Window bounds both phases.
	Settling struct {
		About
		Service       string
		Delay, Window time.Duration
		Checks        int
	}
	// Measured: one validation measurement landed; N counts the check's
	// measurements so far (errors included), Count is how many it takes.
	Measured struct {
		About
		Service, Check                 string
		N, Count                       int
		Outcome, Value, Bound, Message string
		At                             time.Time
	}
	// Validated: one service's validation results.
	Validated struct {
		About
		Service string
		Results []CheckResult
	}
	// Ended: the rollback reached a final state; support channels hear the
	// outcome of a real (not drill) rollback.
	Ended struct {
		About
		SupportChannels []string
	}
)

// Rerun lists, as service/step, the steps a resume runs again.
type Rerun struct {
	InFlight, Failed, Undone []string
}

// Of is nil: the notice goes to a channel, not a rollback's thread.
func (AlertIgnored) Of() *Record { return nil }

// AlertNotProposed: an alert for a service raised no proposal; Why says
// what stopped it (the plan and where it failed, the thrash guard's
// cooldown, no known-good release…). It goes to the service's channel.
type AlertNotProposed struct {
	Channel, Service, Source, Kind, Summary string
	Why                                     Words
	// Guarded: the thrash guard held it back; a person may still propose
	// with a reason, which overrides the guard.
	Guarded bool
}

// Of is nil: the notice goes to a channel, not a rollback's thread.
func (AlertNotProposed) Of() *Record { return nil }

// StepAttemptFailed: one attempt of a step failed; RetryIn is set when it is tried
// again. Output is the (redacted) tail the executor kept.
type StepAttemptFailed struct {
	About
	Service, Step string
	Title         string // the step's name, as the plan shows it
	Attempt       int
	ExitCode      int
	Error         string
	Output        string
	Took          time.Duration
	RetryIn       time.Duration
}
