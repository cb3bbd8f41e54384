// Package plugin is the `uses: plugin` executor: it runs an external
// program that speaks JSON over stdin and stdout (see PROTOCOL.md), in its
// own process group with a filtered environment.
package plugin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/backout/backout/internal/exec"
	"github.com/backout/backout/internal/exec/proc"
	"github.com/backout/backout/internal/yamlx"
)

// Prefix starts the file name of every plugin found by name.
const Prefix = "backout-plugin-"

// Output limits: stdout must hold the whole response; what people see is
// capped like any other step output.
const (
	responseLimit      = 1 << 20
	defaultOutputLimit = 64 << 10
)

var pluginName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// Executor is the `uses: plugin` executor.
type Executor struct{ dir string }

// New returns the executor finding plugins by name in dir.
func New(dir string) *Executor { return &Executor{dir: dir} }

// Name implements exec.Executor.
func (*Executor) Name() string { return "plugin" }

// with is the `with:` of a plugin step.
type with struct {
	KeyPos map[string]yamlx.Pos
	Name   string     `yaml:"name"`
	Path   string     `yaml:"path"`
	Config yamlx.Node `yaml:"config"`
	Env    []string   `yaml:"env"`
}

type spec struct {
	with
}

func templated(s string) bool { return strings.Contains(s, "{{") }

// decode reads `with:` strictly; at lint time (final false) values holding
// a template are accepted unparsed.
func decode(n yamlx.Node, final bool) (*spec, error) {
	var s spec
	if err := n.Decode(&s.with); err != nil {
		return nil, err
	}
	var errs yamlx.Errors
	at := func(key string) yamlx.Pos { return yamlx.KeyAt(n.Pos(), s.KeyPos, key) }
	check := func(v string) bool { return v != "" && (final || !templated(v)) }
	switch {
	case s.Name == "" && s.Path == "":
		errs.Addf(n.Pos(), `missing required field "name" or "path"`)
	case s.Name != "" && s.Path != "":
		errs.Addf(at("path"), "path: set either name or path, not both")
	case check(s.Name) && !pluginName.MatchString(s.Name):
		errs.Addf(at("name"), "name: %q is not a plugin name (lower-case letters, digits, '-' and '_')", s.Name)
	case check(s.Path):
		base := ""
		if n.File != "" {
			base = filepath.Dir(n.File)
		}
		if err := proc.CheckLocal(base, s.Path); err != nil {
			errs.Addf(at("path"), "path: %v", err)
		}
	}
	for i, name := range s.Env {
		if !proc.ValidEnvName(name) {
			errs.Addf(at(fmt.Sprintf("env[%d]", i)), "env[%d]: invalid variable name %q", i, name)
		}
	}
	return &s, errs.Err()
}

// Validate implements exec.Executor. The plugin's own config is the
// plugin's business and is not checked here.
func (*Executor) Validate(with yamlx.Node) error {
	_, err := decode(with, false)
	return err
}

// executable finds the plugin: by name in the plugin directory, or by path
// inside the runbooks directory.
func (e *Executor) executable(s *spec, baseDir string) (string, error) {
	if s.Path != "" {
		p, err := proc.ResolveUnder(baseDir, s.Path)
		if err != nil {
			return "", fmt.Errorf("path: %w", err)
		}
		return p, nil
	}
	if e.dir == "" {
		return "", fmt.Errorf("plugin %q: no plugin directory is configured", s.Name)
	}
	return filepath.Join(e.dir, Prefix+s.Name), nil
}

func encodeRequest(s *spec, req exec.Request) ([]byte, error) {
	cfg, err := s.Config.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return json.Marshal(Request{
		Version:  ProtocolVersion,
		Step:     req.StepID,
		Rollback: req.RollbackID,
		Service:  req.Service,
		Params:   params(req.Params),
		Config:   cfg,
		Context:  Context{Attempt: req.Attempt, TimeoutMS: req.Timeout.Milliseconds(), BaseDir: req.BaseDir},
		DryRun:   req.DryRun,
	})
}

// Preview implements exec.Executor: the program and the request it would
// read. The plugin itself is not started.
func (e *Executor) Preview(_ context.Context, req exec.Request) (string, error) {
	s, err := decode(req.With, true)
	if err != nil {
		return "", err
	}
	path, err := e.executable(s, req.BaseDir)
	if err != nil {
		return "", err
	}
	body, err := encodeRequest(s, req)
	if err != nil {
		return "", err
	}
	return exec.Redact(fmt.Sprintf("$ %s < request\nrequest: %s", proc.Quote([]string{path}), body), req.Redact), nil
}

// Run implements exec.Executor. In a dry run the plugin is still started,
// with "dry_run": true, because only it can say what it would do; the
// protocol forbids side effects then.
func (e *Executor) Run(ctx context.Context, req exec.Request) (exec.Result, error) {
	s, err := decode(req.With, true)
	if err != nil {
		return exec.Result{}, err
	}
	path, err := e.executable(s, req.BaseDir)
	if err != nil {
		return exec.Result{}, err
	}
	body, err := encodeRequest(s, req)
	if err != nil {
		return exec.Result{}, err
	}
	ctx, cancel := req.WithTimeout(ctx)
	defer cancel()
	o, runErr := proc.Run(ctx, proc.Spec{
		Argv:              []string{path},
		Dir:               req.BaseDir,
		Env:               proc.Env(req.Env, s.Env, nil),
		Stdin:             body,
		OutputLimit:       max(req.OutputLimit, responseLimit),
		KillGrace:         req.KillGrace,
		FrozenParentLimit: req.FrozenLimit,
		StartBy:           req.StartBy,
		Redact:            req.Redact,
		Progress:          stderrProgress(req.Progress),
	})
	limit := req.OutputLimit
	if limit <= 0 {
		limit = defaultOutputLimit
	}
	return outcome(filepath.Base(path), o, runErr, limit)
}

// outcome turns the process result and its response into the step result.
func outcome(name string, o proc.Outcome, runErr error, limit int) (exec.Result, error) {
	res := exec.Result{ExitCode: o.ExitCode, Detail: map[string]string{"exit_code": strconv.Itoa(o.ExitCode)}}
	var exitErr *proc.ExitError
	if runErr != nil && !errors.As(runErr, &exitErr) {
		res.Output = tail(o.Stderr, limit)
		return res, runErr // timeout, cancel, or could not start
	}
	resp, parseErr := ParseResponse([]byte(o.Stdout))
	if parseErr == nil {
		for k, v := range resp.Detail {
			res.Detail[k] = v
		}
		res.Output = head(resp.Output, limit)
	}
	if o.Stderr != "" && (runErr != nil || parseErr != nil || resp.Status != StatusOK) {
		res.Output = joinNonEmpty(res.Output, "--- stderr ---\n"+tail(o.Stderr, limit))
	}
	var err error
	switch {
	case runErr != nil:
		err = fmt.Errorf("plugin %s: %w", name, runErr)
	case parseErr != nil:
		err = fmt.Errorf("plugin %s: invalid response: %w", name, parseErr)
		if o.Stdout != "" {
			res.Output = joinNonEmpty("--- stdout ---\n"+head(o.Stdout, limit), res.Output)
		}
	case resp.Status == StatusFailed:
		err = fmt.Errorf("plugin %s failed: %s", name, firstLine(resp.Output))
	}
	if err != nil && parseErr == nil && resp.Retryable {
		err = exec.Retryable(err)
	}
	return res, err
}

// Probe implements exec.Prober: the plugin must exist and be executable.
func (e *Executor) Probe(_ context.Context, req exec.Request) (string, error) {
	s, err := decode(req.With, true)
	if err != nil {
		return "", err
	}
	path, err := e.executable(s, req.BaseDir)
	if err != nil {
		return err.Error(), nil
	}
	info, err := os.Stat(path)
	switch {
	case err != nil:
		return fmt.Sprintf("plugin %s: %v", path, err), nil
	case info.IsDir() || info.Mode()&0o111 == 0:
		return fmt.Sprintf("plugin %s is not an executable file", path), nil
	}
	return "", nil
}

func head(s string, limit int) string {
	if len(s) <= limit {
		return s
	}
	return strings.ToValidUTF8(s[:limit], "") + fmt.Sprintf("\n[... %d bytes truncated ...]", len(s)-limit)
}

func tail(s string, limit int) string {
	if len(s) <= limit {
		return s
	}
	return fmt.Sprintf("[... %d bytes truncated ...]\n", len(s)-limit) + strings.ToValidUTF8(s[len(s)-limit:], "")
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	if line == "" {
		return "(no output)"
	}
	return line
}

func joinNonEmpty(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	case strings.HasSuffix(a, "\n"):
		return a + b
	}
	return a + "\n" + b
}

// params never sends null: the protocol promises an object.
func params(p map[string]string) map[string]string {
	if p == nil {
		return map[string]string{}
	}
	return p
}

// stderrProgress shows a plugin's stderr as it runs; its stdout is the
// protocol's response, not for people.
func stderrProgress(progress func(line string)) func(stream, line string) {
	if progress == nil {
		return nil
	}
	return func(stream, line string) {
		if stream == "stderr" {
			progress(line)
		}
	}
}
