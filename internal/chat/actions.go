package chat

import "strings"

// Button action IDs: the verbs a click asks for. Presentation puts them on
// buttons and the command layer dispatches on them, so they live here, next
// to Button, once.
const (
	ActionApprove = "approve"
	ActionReject  = "reject"
	ActionAbort   = "abort"
	ActionResume  = "resume"
	ActionGate    = "gate"
	ActionPause   = "pause"
	// ActionAffected is a support channel's "users still affected?" press.
	ActionAffected = "affected"
)

// NeedsReason reports whether a click must first collect a reason (Slack
// opens a modal for these, since the reason is audited).
func NeedsReason(actionID string) bool { return actionID == ActionReject || actionID == ActionAbort }

// buttonValueSep separates a button value's rollback id from its extra part.
// Rollback ids never contain it.
const buttonValueSep = "|"

// ButtonValue is what a button carries: the rollback id and, when the verb
// needs it, an extra part (the plan hash a vote is for, the gate key).
func ButtonValue(id, extra string) string {
	if extra == "" {
		return id
	}
	return id + buttonValueSep + extra
}

// ParseButtonValue undoes ButtonValue.
func ParseButtonValue(v string) (id, extra string) {
	id, extra, _ = strings.Cut(v, buttonValueSep)
	return id, extra
}
