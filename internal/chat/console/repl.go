package console

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/backout/backout/internal/chat"
	"github.com/backout/backout/internal/commands"
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

// REPL reads lines and drives the handlers.
type REPL struct {
	Handler commands.Handler
	Backend Backend
	Poster  *Poster
	Channel string
	User    string
	// Echo prints each input line, for transcripts of scripted input.
	Echo bool
}

const consoleHelp = `Console commands:
  /rollback <command>        a slash command (try /rollback help)
  as <user>                  act as another person (e.g. as bob)
  click <n> [reason...]      press button n (reject and abort need a reason)
  alert <service>            simulate a PagerDuty incident for a service
  deploy <service> <version> [age]
                             record a deploy, as CI would (age backdates it, e.g. 3h)
  wait                       wait until running work settles
  help                       this text
  quit                       leave (end of input also waits, then leaves)`

// Run reads in until quit or end of input.
func (r *REPL) Run(ctx context.Context, in io.Reader) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	r.Poster.Say("Backout console — you are @%s in #%s. Type `help` for console commands.", r.User, r.Channel)
	for {
		if ctx.Err() != nil {
			return nil
		}
		if !sc.Scan() {
			if err := sc.Err(); err != nil {
				return fmt.Errorf("read input: %w", err)
			}
			return r.Backend.Wait(ctx)
		}
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
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
		if rest == "" || strings.ContainsAny(rest, " \t") {
			r.Poster.Say("usage: as <user>")
			return false
		}
		r.User = rest
		r.Poster.Say("(you are now @%s)", r.User)
	case "click":
		r.click(ctx, rest)
	case "alert":
		if rest == "" {
			r.Poster.Say("usage: alert <service>")
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
	default:
		r.Poster.Say("unknown console command %q; type help", word)
	}
	return false
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
