// Command bot is Backout: a ChatOps bot that takes a team through a release
// rollback from first alert to post-mortem. main parses flags, loads the
// configuration and hands over to internal/app; see `bot help`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/backout/backout/internal/app"
	"github.com/backout/backout/internal/suggest"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// Exit codes.
const (
	exitOK      = 0
	exitInvalid = 1 // invalid input: config, runbook, usage
	exitRuntime = 2 // runtime failure
)

const usage = `Backout takes a team through a release rollback, from first alert to post-mortem.

Usage:
  bot serve    [--config FILE]            run the Slack app, webhooks and HTTP API
  bot console  [--config FILE] [--state FILE] [--charts DIR] [--as USER] [--channel ID]
                                          a terminal chat over the same handlers
  bot lint     [--config FILE] [PATH...]  check the config and runbooks
  bot audit verify [--config FILE] [--anchor SEQ:HASH] [--resume] [--server URL]
                                          check the audit chain, and that it reaches an anchor
  bot schema   [--markdown]               print the runbook JSON Schema (or docs/runbooks.md)
  bot deploy record --service NAME --version V --artifact REF [...] [--server URL]
                                          report a deploy from CI (POST /api/v1/deploys)
  bot gate     SERVICE [--risk R --for-deploy V] [--server URL]
                                          may SERVICE be deployed now (and, --risk high, is its
                                          rollback path proven)? exit 3 when not
  bot version                             print the version

--config defaults to $BACKOUT_CONFIG, then bot.yaml (console: examples/bot.yaml).
deploy and gate call a running server: --server defaults to $BACKOUT_URL, and
the token is read from $BACKOUT_API_TOKEN only.
Exit codes: 0 success, 1 invalid input, 2 runtime failure, 3 gate closed.
`

// commandNames are run's commands, for "did you mean".
var commandNames = []string{"serve", "console", "lint", "audit", "schema", "deploy", "gate", "version", "help"}

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv))
}

// run is main without the process: testable end to end.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitInvalid
	}
	ctx, stop := signalContext(context.Background())
	defer stop()
	cmd, rest := args[0], args[1:]
	var err error
	switch cmd {
	case "serve":
		err = serve(ctx, rest, stdout, stderr, getenv)
	case "console":
		err = consoleCmd(ctx, rest, stdin, stdout, stderr, getenv)
	case "lint":
		err = lint(rest, stdout, stderr, getenv)
	case "audit":
		err = audit(ctx, rest, stdout, stderr, getenv)
	case "schema":
		err = schema(rest, stdout, stderr)
	case "deploy":
		err = deployCmd(ctx, rest, stdout, stderr, getenv)
	case "gate":
		err = gateCmd(ctx, rest, stdout, stderr, getenv)
	case "version":
		err = versionCmd(rest, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	default:
		if near := suggest.Closest(cmd, commandNames); near != "" {
			fmt.Fprintf(stderr, "unknown command %q; did you mean %q?\n\n%s", cmd, near, usage)
			return exitInvalid
		}
		fmt.Fprintf(stderr, "unknown command %q\n\n%s", cmd, usage)
		return exitInvalid
	}
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.Is(err, errGateClosed):
		return exitGateClosed
	case errors.Is(err, errUsage), errors.Is(err, app.ErrInvalid):
		fmt.Fprintln(stderr, err)
		return exitInvalid
	default:
		fmt.Fprintln(stderr, "error:", err)
		return exitRuntime
	}
}

var errUsage = errors.New("usage")

// flags builds a subcommand's flag set with a usage line and --config.
func flags(name, synopsis string, stderr io.Writer) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: bot %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
	}
	cfg := fs.String("config", "", "config file (default $BACKOUT_CONFIG, then bot.yaml)")
	return fs, cfg
}

// parse parses flags; a parse error is a usage error.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	return nil
}

// configPath applies the --config, $BACKOUT_CONFIG, bot.yaml order, for lint,
// which reports a missing file itself; the others use findConfig.
func configPath(flagValue string, getenv func(string) string) string {
	if flagValue != "" {
		return flagValue
	}
	if env := getenv("BACKOUT_CONFIG"); env != "" {
		return env
	}
	return "bot.yaml"
}

func logger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
}

func versionCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, "Usage: bot version") }
	if err := parse(fs, args); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "backout", version)
	return nil
}

// signalNames are the signals that stop Backout, as a thread names them
// when a replica hands a rollback on.
var signalNames = map[os.Signal]string{os.Interrupt: "SIGINT", syscall.SIGTERM: "SIGTERM"}

// signalContext ends at SIGINT or SIGTERM with the signal's name as its
// cause (context.Cause), which the lifecycle quotes when it hands a
// rollback on. The first signal starts a graceful shutdown, which may wait
// for steps (engine.shutdown_grace); a second one gets the default action
// and ends the process at once, its steps with it (a second Ctrl-C).
// Its stop lets the signals go and releases the watcher.
func signalContext(parent context.Context) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(parent)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		defer close(done)
		select {
		case sig := <-sigs:
			signal.Stop(sigs)
			cancel(errors.New(signalNames[sig]))
		case <-ctx.Done():
		}
	}()
	return ctx, func() {
		signal.Stop(sigs)
		cancel(nil)
		<-done
	}
}
