package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/term"

	"github.com/backout/backout/internal/app"
	"github.com/backout/backout/internal/chat/console"
	"github.com/backout/backout/internal/config"
	"github.com/backout/backout/internal/runbook"
	"github.com/backout/backout/internal/yamlx"
)

func serve(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs, cfgFlag := flags("serve [--config FILE]", "serve [--config FILE]", stderr)
	level := fs.String("log-level", "info", "debug, info, warn or error")
	if err := parse(fs, args); err != nil {
		return err
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*level)); err != nil {
		return fmt.Errorf("%w: --log-level: %v", errUsage, err)
	}
	path, err := findConfig(*cfgFlag, getenv, false)
	if err != nil {
		return err
	}
	loaded, err := app.Load(path, getenv, registries)
	if err != nil {
		return err
	}
	return app.Serve(ctx, loaded, logger(stdout, lvl))
}

func consoleCmd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) error {
	fs, cfgFlag := flags("console [--config FILE] [--state FILE] [--charts DIR] [--as USER] [--channel ID]", "console", stderr)
	state := fs.String("state", "", "bolt file to keep state in (default: a fresh temporary file)")
	charts := fs.String("charts", "", "directory to write chart PNGs to, kept after the console ends (default: a temporary one, removed when it ends)")
	user := fs.String("as", "alice", "who you are at the start")
	channel := fs.String("channel", "", "channel you type in (default: the config's slack.channel)")
	echo := fs.Bool("echo", false, "print each input line (default: on when input is not a terminal)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: console takes no arguments (got %q); feed a script on stdin", errUsage, fs.Args())
	}
	path, err := findConfig(*cfgFlag, getenv, true)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "backout-console-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	// The demo runbook's shell steps act on files here and nowhere else.
	demoDir := getenv("BACKOUT_DEMO_DIR")
	if demoDir == "" {
		demoDir = filepath.Join(tmp, "demo")
	}
	// Steps see the process environment (through their allow-list).
	if err := os.Setenv("BACKOUT_DEMO_DIR", demoDir); err != nil {
		return err
	}
	loaded, err := app.Load(path, getenv, registries)
	if err != nil {
		return err
	}
	// The demo's validation checks ask a real HTTP service about what its
	// steps installed; live output every second shows within a step of seconds.
	demo, err := loaded.StartDemo(app.ConsoleDemo{Dir: demoDir, OutputEvery: time.Second})
	if err != nil {
		return err
	}
	defer demo.Close()
	if *state == "" {
		*state = filepath.Join(tmp, "console.db")
	}
	st, err := app.OpenStore(ctx, &config.Config{Store: config.StoreConfig{Kind: "bolt"}}, *state, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	if *channel == "" {
		*channel = loaded.Config.Slack.Channel
	}
	poster, err := consolePoster(stdout, *charts)
	if err != nil {
		return err
	}
	// Chart paths printed during the session stay valid until it ends;
	// then the temporary chart directory goes (an explicit --charts stays).
	defer func() {
		if err := poster.Close(); err != nil {
			fmt.Fprintf(stderr, "warning: %v\n", err)
		}
	}()
	a := app.Build(loaded, st, app.Options{Poster: poster, ReplicaID: "console", Logger: logger(io.Discard, slog.LevelError)})
	fmt.Fprintf(stdout, "config %s · %d runbooks · %d services · state %s · demo files in %s · demo service %s\n",
		path, len(loaded.Runbooks), len(loaded.Config.Services), *state, demoDir, demo.URL)
	tty := isTerminal(stdin)
	return a.RunConsole(ctx, stdin, app.ConsoleOptions{User: *user, Channel: *channel, Echo: *echo || !tty, Prompt: tty})
}

// consolePoster prints the console's transcript to out; its charts go to
// dir when one is given (made if missing), else to a temporary directory
// the poster removes when closed.
func consolePoster(out io.Writer, dir string) (*console.Poster, error) {
	p := console.NewPoster(out)
	if dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("--charts: %w", err)
		}
		p.SetImageDir(dir)
	}
	return p, nil
}

// isTerminal reports whether r is a terminal, where a person types and
// wants a prompt, rather than a script. It asks the terminal driver (x/term)
// because a character device is not enough: /dev/null is one too.
func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// lint checks a config and/or runbook paths and prints every problem.
func lint(args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs, cfgFlag := flags("lint [--config FILE] [PATH...]", "lint", stderr)
	if err := parse(fs, args); err != nil {
		return err
	}
	var cfg *config.Config
	var errs yamlx.Errors
	path := configPath(*cfgFlag, getenv)
	_, statErr := os.Stat(path)
	explicit := *cfgFlag != "" || getenv("BACKOUT_CONFIG") != ""
	if statErr == nil || explicit {
		c, err := config.Load(path, getenv)
		if err != nil {
			errs.Add(yamlx.Pos{File: path}, err)
		}
		cfg = c
	} else if fs.NArg() == 0 {
		return fmt.Errorf("%w: no bot.yaml here; give --config FILE or runbook paths (bot lint runbooks/)", errUsage)
	}
	set := runbook.Set{}
	for _, p := range fs.Args() {
		loadInto(set, p, &errs)
	}
	if cfg != nil {
		// the config's own directory, as bot serve loads it
		dirSet, err := app.LoadRunbooks(cfg)
		errs.Add(yamlx.Pos{File: cfg.File}, err)
		addAll(set, dirSet, &errs)
	}
	lc := cfg
	if lc == nil {
		// Without a config, lint cannot know the Prometheus URL that wait
		// and promql steps default to; assume one will be configured.
		lc = &config.Config{Prometheus: config.PrometheusConfig{URL: "http://prometheus.invalid:9090"}}
	}
	l := &app.Loaded{Config: lc, Runbooks: set, Executors: executors(lc), Checkers: checkers(lc)}
	kinds := app.LintKinds(l.Executors, l.Checkers)
	for _, name := range set.Names() {
		errs.Add(yamlx.Pos{File: set[name].File}, runbook.Lint(set[name], kinds))
	}
	services := 0
	if cfg != nil {
		errs.Add(yamlx.Pos{File: cfg.File}, runbook.LintCatalog(cfg, set))
		errs.Add(yamlx.Pos{File: cfg.File}, runbook.LintDrillTargets(cfg, set, app.DrillKinds(l.Executors, l.Checkers)))
		services = len(cfg.Services)
	}
	if err := errs.Err(); err != nil {
		fmt.Fprintln(stdout, err)
		return app.Summary(len(errs))
	}
	fmt.Fprintf(stdout, "%d runbooks, %d services: ok\n", len(set), services)
	return nil
}

// loadInto loads a runbook file or directory into set, keyed by name;
// loading the same file twice is harmless.
func loadInto(set runbook.Set, path string, errs *yamlx.Errors) {
	fi, err := os.Stat(path)
	if err != nil {
		errs.Addf(yamlx.Pos{File: path}, "cannot read: %v", errors.Unwrap(err))
		return
	}
	if !fi.IsDir() {
		rb, err := runbook.Load(path)
		errs.Add(yamlx.Pos{File: path}, err)
		if rb != nil {
			addAll(set, runbook.Set{rb.Name: rb}, errs)
		}
		return
	}
	dirSet, err := runbook.LoadDir(path)
	errs.Add(yamlx.Pos{File: path}, err)
	addAll(set, dirSet, errs)
}

// addAll adds each runbook of from to set, keyed by name; the same file
// twice is harmless, two files of one name a problem.
func addAll(set, from runbook.Set, errs *yamlx.Errors) {
	for _, name := range from.Names() {
		rb := from[name]
		if prev, ok := set[rb.Name]; ok && prev.File != rb.File {
			errs.Addf(rb.Pos, "duplicate runbook name %q (also in %s)", rb.Name, prev.File)
			continue
		}
		set[rb.Name] = rb
	}
}
