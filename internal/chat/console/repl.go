package console

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/backout/backout/internal/chat"
	"github.com/backout/backout/internal/commands"
	"github.com/backout/backout/internal/edge"
	"github.com/backout/backout/internal/rollback"
	"github.com/backout/backout/internal/suggest"
)

// Backend is what the console drives besides the command handlers.
type Backend interface {
	// Alert simulates a PagerDuty incident for a service.
	Alert(ctx context.Context, service string) error
	// Deploy records a deploy as CI would.
	Deploy(ctx context.Context, user, service, version string) error
	// Wait blocks until running work settles.
	Wait(ctx context.Context) error
}

// Records is what `show` and `postmortem` read: the lifecycle's questions
// about rollbacks (*incident.Service answers them), the same ones the
// `/rollback` commands ask, so the console shows only what the lifecycle
// says.
type Records interface {
	Rollback(ctx context.Context, id string) (*rollback.Record, rollback.Words, error)
	Votes(ctx context.Context, id string) ([]rollback.Vote, error)
	StepLog(ctx context.Context, id string) ([]rollback.StepEvent, error)
	OpenRollbacks(ctx context.Context) ([]*rollback.Record, error)
}

// Postmortems gives a rollback's post-mortem text (*postmortem.Writer).
type Postmortems interface {
	Get(ctx context.Context, id string) (string, error)
	// Charts are the pictures the post-mortem links, written beside it.
	Charts(ctx context.Context, id string) ([]chat.Image, error)
}

// REPL reads lines and drives the handlers.
type REPL struct {
	Handler     commands.Handler
	Backend     Backend
	Records     Records
	Postmortems Postmortems
	Poster      *Poster
	Channel     string
	User        string
	// Echo prints each input line, for transcripts of scripted input.
	Echo bool
	// Prompt shows "user@#channel> " while waiting for a line: for a person
	// at a terminal, who otherwise cannot see who they are after `as`.
	// Scripts leave it off, so transcripts stay as they were.
	Prompt bool
}

const consoleHelp = `Console commands:
  /rollback <command>        a slash command (try /rollback help)
  as <user>                  act as another person (e.g. as bob)
  click <n> [reason...]      press button n (reject and abort need a reason)
  alert <service> [age]      simulate a PagerDuty incident for a service
                             (age: it opened that long ago, e.g. 10m)
  deploy <service> <version> [age]
                             record a deploy, as CI would (age backdates it, e.g. 3h)
  wait                       wait until running work settles
  show <id>                  the whole record of a rollback: steps, output, votes, checks, timings
  postmortem <id> [--out FILE]
                             the whole post-mortem, or write it to FILE
  help                       this text
  quit                       leave (end of input also waits, then leaves)`

// consoleWords are the console's own commands, for "did you mean".
var consoleWords = []string{"/rollback", "as", "click", "alert", "deploy", "wait", "show", "postmortem", "help", "quit", "exit"}

// Run reads in until quit or end of input.
func (r *REPL) Run(ctx context.Context, in io.Reader) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	r.Poster.Say("Backout console — you are @%s in #%s. Type `help` for console commands.", r.User, r.Channel)
	for {
		if ctx.Err() != nil {
			return nil
		}
		if r.Prompt {
			r.Poster.Prompt(fmt.Sprintf("%s@#%s> ", r.User, r.Channel))
		}
		more := sc.Scan()
		r.Poster.Typed()
		if !more && r.Prompt {
			r.Poster.Say("") // end of input (^D) leaves the cursor after the prompt
		}
		if !more {
			if err := sc.Err(); err != nil {
				return fmt.Errorf("read input: %w", err)
			}
			return r.Backend.Wait(ctx)
		}
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		// Refused here too, not only by the dispatcher: deploy and alert
		// lines never reach it.
		if problem := edge.Problem("the line", line, false); problem != "" {
			r.Poster.Say("%s; nothing was done", problem)
			continue
		}
		if r.Echo {
			r.Poster.Say("%s> %s", r.User, line)
		}
		if quit := r.handle(ctx, line); quit {
			return r.Backend.Wait(ctx)
		}
	}
}

func (r *REPL) handle(ctx context.Context, line string) (quit bool) {
	word, rest, _ := strings.Cut(line, " ")
	rest = strings.TrimSpace(rest)
	switch strings.ToLower(word) {
	case "quit", "exit":
		return true
	case "help":
		r.Poster.Say("%s", consoleHelp)
	case "/rollback":
		r.reply(ctx, r.Handler.Command(ctx, commands.Invocation{User: r.User, Channel: r.Channel, Source: "console", From: "console", Text: rest}))
	case "as":
		// "as @bob" is how people write a user; the @ is not part of the id
		// (the user would be "@bob", a member of no group).
		if rest = strings.TrimPrefix(rest, "@"); rest == "" || strings.ContainsAny(rest, " \t") {
			r.Poster.Say("usage: as <user>")
			return false
		}
		r.User = rest
		r.Poster.Say("(you are now @%s)", r.User)
	case "click":
		r.click(ctx, rest)
	case "alert":
		if rest == "" {
			r.Poster.Say("usage: alert <service> [age, e.g. 10m: opened that long ago]")
			return false
		}
		if err := r.Backend.Alert(ctx, rest); err != nil {
			r.Poster.Say("alert failed: %v", err)
		}
	case "deploy":
		f := strings.Fields(rest)
		if len(f) < 2 || len(f) > 3 {
			r.Poster.Say("usage: deploy <service> <version> [age, e.g. 3h to backdate]")
			return false
		}
		if err := r.Backend.Deploy(ctx, r.User, f[0], strings.Join(f[1:], " ")); err != nil {
			r.Poster.Say("deploy failed: %v", err)
		}
	case "wait":
		if err := r.Backend.Wait(ctx); err != nil {
			r.Poster.Say("wait: %v", err)
		}
	case "show":
		r.show(ctx, rest)
	case "postmortem":
		r.postmortem(ctx, rest)
	default:
		r.Poster.Say("%s", unknownWord(word))
	}
	return false
}

// unknownWord answers a line that starts with no console command. A near
// miss names the command meant; a `/rollback` verb typed bare ("status")
// names the slash command it belongs to.
func unknownWord(word string) string {
	lower := strings.ToLower(word)
	verbs := commands.Verbs()
	if slices.Contains(verbs, lower) {
		return fmt.Sprintf("unknown console command %q; did you mean `/rollback %s`?", word, lower)
	}
	if near := suggest.Closest(lower, consoleWords); near != "" {
		return fmt.Sprintf("unknown console command %q; did you mean `%s`? (type help)", word, near)
	}
	if near := suggest.Closest(lower, verbs); near != "" {
		return fmt.Sprintf("unknown console command %q; did you mean `/rollback %s`?", word, near)
	}
	return fmt.Sprintf("unknown console command %q; type help", word)
}

func (r *REPL) click(ctx context.Context, rest string) {
	numText, reason, _ := strings.Cut(rest, " ")
	n, err := strconv.Atoi(numText)
	if err != nil {
		r.Poster.Say("usage: click <n> [reason...]")
		return
	}
	b, channel, ts, ok := r.Poster.Button(n)
	if !ok {
		r.Poster.Say("there is no button %d", n)
		return
	}
	if chat.NeedsReason(b.ActionID) && strings.TrimSpace(reason) == "" {
		r.Poster.Say("%s needs a reason (it is audited): click %d <reason>", b.Text, n)
		return
	}
	r.reply(ctx, r.Handler.Click(ctx, commands.Click{User: r.User, Channel: channel, Source: "console", From: "console",
		ActionID: b.ActionID, Value: b.Value, Reason: strings.TrimSpace(reason), MessageTS: ts}))
}

func (r *REPL) reply(ctx context.Context, rep commands.Reply) {
	switch {
	case rep.Ignore:
	case rep.Ephemeral:
		_ = r.Poster.Ephemeral(ctx, r.Channel, r.User, rep.Message)
	default:
		_, _ = r.Poster.Post(ctx, chatRef(r.Channel), rep.Message)
	}
}
