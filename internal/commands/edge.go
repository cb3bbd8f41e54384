package commands

import "github.com/backout/backout/internal/edge"

// controlInCommand refuses a command whose text holds a control character
// before anything parses it: a NUL in a reason or a version would pass
// planning and only fail when a step runs, after earlier steps ran.
// Newlines and tabs are allowed (a reason may span lines; the grammar
// splits on them like spaces).
func controlInCommand(inv Invocation) (Reply, bool) {
	return refuseControl(edge.Problem("your command", inv.Text, true))
}

// controlInClick does the same for a button's value (which Backout wrote,
// but travels through the client) and a modal's reason.
func controlInClick(c Click) (Reply, bool) {
	if r, bad := refuseControl(edge.Problem("the reason", c.Reason, true)); bad {
		return r, bad
	}
	return refuseControl(edge.Problem("the button's value", c.Value, false))
}

func refuseControl(problem string) (Reply, bool) {
	if problem == "" {
		return Reply{}, false
	}
	return private("⚠️ " + capitalize(problem) + ", which Backout refuses: it would break a step's command later. " +
		"Remove it and try again; nothing was done."), true
}

func capitalize(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}
