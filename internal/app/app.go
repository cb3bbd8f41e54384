package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/backout/backout/internal/chat"
	"github.com/backout/backout/internal/check"
	"github.com/backout/backout/internal/commands"
	"github.com/backout/backout/internal/config"
	"github.com/backout/backout/internal/drill"
	"github.com/backout/backout/internal/exec"
	"github.com/backout/backout/internal/incident"
	"github.com/backout/backout/internal/metrics"
	"github.com/backout/backout/internal/postmortem"
	"github.com/backout/backout/internal/present"
	"github.com/backout/backout/internal/report"
	"github.com/backout/backout/internal/runbook"
	"github.com/backout/backout/internal/store"
	boltstore "github.com/backout/backout/internal/store/bolt"
	redisstore "github.com/backout/backout/internal/store/redis"
	"github.com/backout/backout/internal/validate"
	"github.com/backout/backout/internal/yamlx"
)

// ErrInvalid marks configuration and runbook problems (exit code 1).
var ErrInvalid = errors.New("invalid configuration")

// Loaded is a validated configuration with its runbooks.
type Loaded struct {
	Config    *config.Config
	Runbooks  runbook.Set
	Executors *exec.Registry
	Checkers  *check.Registry
}

// Load reads the config and its runbooks and lints them. Like `bot lint`
// it goes on past a problem as far as what was read allows (a config that
// decodes only in part still has its runbooks loaded and linted), so a
// refused start lists every problem at once; they are returned as
// *Problems, which is ErrInvalid.
func Load(path string, getenv func(string) string, reg Registries) (*Loaded, error) {
	if reg.Executors == nil || reg.Checkers == nil {
		return nil, errors.New("app.Load: no executors or checks registered (cmd/bot/registry.go lists them)")
	}
	var errs yamlx.Errors
	cfg, err := config.Load(path, getenv)
	errs.Add(yamlx.Pos{File: path}, err)
	if cfg == nil {
		return nil, invalid(errs.Err())
	}
	set, err := LoadRunbooks(cfg)
	errs.Add(yamlx.Pos{File: cfg.File}, err)
	l := &Loaded{Config: cfg, Runbooks: set, Executors: reg.Executors(cfg), Checkers: reg.Checkers(cfg)}
	errs.Add(yamlx.Pos{File: cfg.File}, l.Lint())
	if err := errs.Err(); err != nil {
		return nil, invalid(err)
	}
	return l, nil
}

// LoadRunbooks loads the config's runbook directory. A directory that
// cannot be read is reported at the config's runbooks: key (or at the file
// when the key is left to its default), since that is where it is fixed.
func LoadRunbooks(cfg *config.Config) (runbook.Set, error) {
	dir := cfg.RunbooksDir()
	if _, err := os.ReadDir(dir); err != nil {
		at := yamlx.KeyAt(yamlx.Pos{File: cfg.File}, cfg.KeyPos, "runbooks")
		return runbook.Set{}, yamlx.Errors{at.Errorf("runbooks: cannot read directory %s: %v", dir, unwrapPath(err))}
	}
	return runbook.LoadDir(dir)
}

// unwrapPath drops the "open <path>:" a *fs.PathError repeats.
func unwrapPath(err error) error {
	if u := errors.Unwrap(err); u != nil {
		return u
	}
	return err
}

// Problems is every config and runbook problem Load found. It prints as
// `bot lint` does: each problem on its own file:line:col line, then the
// count, so `bot serve` refusing to start says exactly what lint says.
type Problems struct{ List yamlx.Errors }

func (p *Problems) Error() string {
	return fmt.Sprintf("%s\n%v", p.List.Error(), Summary(len(p.List)))
}

// Unwrap makes Problems both ErrInvalid (exit code 1) and its list.
func (p *Problems) Unwrap() []error { return []error{ErrInvalid, p.List} }

// Summary is the last line of a refused config, as bot lint ends its list:
// "invalid configuration: 3 problem(s)".
func Summary(n int) error { return fmt.Errorf("%w: %d problem(s)", ErrInvalid, n) }

func invalid(err error) error {
	var list yamlx.Errors
	if errors.As(err, &list) {
		return &Problems{List: list}
	}
	return fmt.Errorf("%w: %v", ErrInvalid, err)
}

// Lint checks every runbook and the catalog against them.
func (l *Loaded) Lint() error {
	var errs yamlx.Errors
	kinds := LintKinds(l.Executors, l.Checkers)
	for _, name := range l.Runbooks.Names() {
		errs.Add(yamlx.Pos{File: l.Runbooks[name].File}, runbook.Lint(l.Runbooks[name], kinds))
	}
	errs.Add(yamlx.Pos{File: l.Config.File}, runbook.LintCatalog(l.Config, l.Runbooks))
	errs.Add(yamlx.Pos{File: l.Config.File}, runbook.LintDrillTargets(l.Config, l.Runbooks, DrillKinds(l.Executors, l.Checkers)))
	return errs.Err()
}

// OpenStore opens the configured store; log takes what the store says on
// its own (bolt: dedup keys let go early), nil for slog.Default().
func OpenStore(ctx context.Context, cfg *config.Config, boltPath string, log *slog.Logger) (store.Store, error) {
	switch cfg.Store.Kind {
	case "redis":
		return redisstore.Open(ctx, redisstore.Options{URL: cfg.Store.URL, Password: cfg.Secrets.RedisPassword.Reveal(), Prefix: cfg.Store.Prefix,
			Hasher: AuditHasher(cfg)})
	default:
		if boltPath == "" {
			boltPath = cfg.StorePath()
		}
		return boltstore.Open(boltPath, boltstore.Options{Hasher: AuditHasher(cfg), DedupMaxKeys: cfg.Store.DedupMaxKeys, Logger: log})
	}
}

// Options tune Build.
type Options struct {
	Logger *slog.Logger
	// Poster is the chat; nil means no chat (messages go nowhere).
	Poster    chat.Poster
	Directory chat.Directory
	Pager     incident.Pager
	ReplicaID string
	Clock     incident.Clock
	// Metrics is shared with adapters built before the app; nil: new ones.
	Metrics *metrics.Metrics
	// ChecksClock paces validation measurements (count, interval); nil:
	// the system clock. A test that runs a whole rollback sets one that
	// does not wait out a runbook's minutes-long intervals.
	ChecksClock validate.Clock
}

// App is a wired Backout.
type App struct {
	*Loaded
	Store       store.Store
	Metrics     *metrics.Metrics
	Svc         *incident.Service
	Dispatcher  *commands.Dispatcher
	Drills      *drill.Drills
	Reports     *report.Builder
	Postmortems *postmortem.Writer
	Poster      chat.Poster
	Log         *slog.Logger
}

// Build wires the lifecycle over an open store.
func Build(l *Loaded, st store.Store, opts Options) *App {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	poster := opts.Poster
	if poster == nil {
		poster = chat.NoopPoster{}
	}
	m := opts.Metrics
	if m == nil {
		m = metrics.New()
	}
	checksClock := opts.ChecksClock
	if checksClock == nil {
		checksClock = validate.SystemClock{}
	}
	svc := incident.New(incident.Deps{
		Config: l.Config, Runbooks: l.Runbooks, Store: st, Executors: l.Executors, Checkers: l.Checkers,
		Checks: checkRunner{checks: l.Checkers, clock: checksClock}, Notifier: present.NewNotifier(poster), Pager: opts.Pager,
		Directory: opts.Directory, Clock: opts.Clock, Logger: log.With("component", "incident"), Metrics: m, ReplicaID: opts.ReplicaID,
	})
	reports := &report.Builder{Store: st, Config: l.Config, Now: svc.Now, MaxAge: svc.DrillMaxAge}
	drills := drill.New(l.Config, svc, st, poster, reports, nil, log.With("component", "drill"), m)
	pm := &postmortem.Writer{Store: st, Runbooks: l.Runbooks, Poster: poster, WebhookURL: l.Config.Postmortem.WebhookURL,
		Log: log.With("component", "postmortem")}
	svc.AddEndHook(drills)
	svc.AddEndHook(pm)
	return &App{
		Loaded: l, Store: st, Metrics: m, Svc: svc, Drills: drills, Reports: reports, Postmortems: pm, Poster: poster, Log: log,
		Dispatcher: commands.NewDispatcher(svc, reports, drills, log.With("component", "commands")),
	}
}
