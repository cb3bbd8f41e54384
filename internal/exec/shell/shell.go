// Package shell runs a program or a script from the runbooks directory as
// argv: no shell ever parses a command line, so rendered parameters cannot
// become shell syntax.
package shell

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	osexec "os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/backout/backout/internal/exec"
	"github.com/backout/backout/internal/exec/proc"
	"github.com/backout/backout/internal/human"
	"github.com/backout/backout/internal/yamlx"
)

// Executor is the `uses: shell` executor.
type Executor struct{}

// New returns the shell executor.
func New() *Executor { return &Executor{} }

// Name implements exec.Executor.
func (*Executor) Name() string { return "shell" }

// with is the `with:` of a shell step. Fields that a template may fill are
// strings, parsed once rendered.
type with struct {
	KeyPos             map[string]yamlx.Pos
	Args               []string          `yaml:"args"`
	Script             string            `yaml:"script"`
	Env                []string          `yaml:"env"`
	SetEnv             map[string]string `yaml:"set_env"`
	Dir                string            `yaml:"dir"`
	RetryableExitCodes []string          `yaml:"retryable_exit_codes"`
}

// spec is a decoded, checked step.
type spec struct {
	with
	retryable map[int]bool
}

func templated(s string) bool { return strings.Contains(s, "{{") }

// decode reads `with:` strictly. At lint time (final false) values holding
// a template are accepted unparsed; at run time everything is parsed.
func decode(n yamlx.Node, final bool) (*spec, error) {
	var s spec
	if err := n.Decode(&s.with); err != nil {
		return nil, err
	}
	var errs yamlx.Errors
	at := func(key string) yamlx.Pos { return yamlx.KeyAt(n.Pos(), s.KeyPos, key) }
	check := func(v string) bool { return final || !templated(v) }
	switch {
	case s.Script == "" && s.Args == nil:
		errs.Addf(n.Pos(), `missing required field "args" or "script"`)
	case s.Script == "" && len(s.Args) == 0:
		errs.Addf(at("args"), "args: must not be empty")
	case s.Script == "" && s.Args[0] == "":
		errs.Addf(at("args[0]"), "args[0]: the program must not be empty")
	}
	if s.Script != "" && check(s.Script) {
		base := ""
		if n.File != "" {
			base = filepath.Dir(n.File)
		}
		if err := proc.CheckLocal(base, s.Script); err != nil {
			errs.Addf(at("script"), "script: %v", err)
		}
	}
	for i, name := range s.Env {
		if !proc.ValidEnvName(name) {
			errs.Addf(at(fmt.Sprintf("env[%d]", i)), "env[%d]: invalid variable name %q", i, name)
		}
	}
	for _, name := range sortedKeys(s.SetEnv) {
		if !proc.ValidEnvName(name) {
			errs.Addf(at("set_env."+name), "set_env: invalid variable name %q", name)
		}
	}
	s.retryable = map[int]bool{}
	for i, c := range s.RetryableExitCodes {
		if !check(c) {
			continue
		}
		code, err := strconv.Atoi(c)
		if err != nil || code < 1 || code > 255 {
			errs.Addf(at(fmt.Sprintf("retryable_exit_codes[%d]", i)), "retryable_exit_codes[%d]: expected an exit code from 1 to 255, got %q", i, c)
		}
		s.retryable[code] = true
	}
	return &s, errs.Err()
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Validate implements exec.Executor.
func (*Executor) Validate(with yamlx.Node) error {
	s, err := decode(with, false)
	if err != nil {
		return err
	}
	return checkScriptExists(s, with)
}

// checkScriptExists: a script named outright must be in the directory the
// runbook was loaded from, so that a misspelt path fails lint and a refused
// start rather than the rollback's readiness. Whether it is executable is
// the probe's to say (a mounted volume may set modes of its own). A runbook
// not read from a directory on disk has nothing to look in.
func checkScriptExists(s *spec, with yamlx.Node) error {
	if s.Script == "" || templated(s.Script) || with.File == "" {
		return nil
	}
	base := filepath.Dir(with.File)
	if info, err := os.Stat(base); err != nil || !info.IsDir() {
		return nil
	}
	path := s.Script
	if !filepath.IsAbs(path) {
		path = filepath.Join(base, path)
	}
	_, err := os.Stat(path)
	at := yamlx.KeyAt(with.Pos(), s.KeyPos, "script")
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return yamlx.Errors{at.Errorf("script: %s not found in %s", s.Script, base)}
	case err != nil:
		return yamlx.Errors{at.Errorf("script: %s: %v", s.Script, errors.Unwrap(err))}
	}
	return nil
}

// argv resolves the program: a script must resolve inside baseDir.
func (s *spec) argv(baseDir string) ([]string, error) {
	if s.Script == "" {
		return append([]string{}, s.Args...), nil
	}
	path, err := proc.ResolveUnder(baseDir, s.Script)
	if err != nil {
		return nil, fmt.Errorf("script: %w", err)
	}
	return append([]string{path}, s.Args...), nil
}

// dir is the working directory: relative paths start at the runbooks dir.
func (s *spec) dir(baseDir string) string {
	if s.Dir == "" || filepath.IsAbs(s.Dir) {
		return s.Dir
	}
	return filepath.Join(baseDir, s.Dir)
}

// Preview implements exec.Executor: the exact argv, quoted for reading.
func (*Executor) Preview(_ context.Context, req exec.Request) (string, error) {
	s, err := decode(req.With, true)
	if err != nil {
		return "", err
	}
	argv, err := s.argv(req.BaseDir)
	if err != nil {
		return "", err
	}
	return preview(s, argv, req), nil
}

func preview(s *spec, argv []string, req exec.Request) string {
	var b strings.Builder
	b.WriteString("$ " + proc.Quote(argv))
	names := append(append([]string{}, proc.BaseEnv...), s.Env...)
	fmt.Fprintf(&b, "\nenv passed through: %s", strings.Join(names, ", "))
	for _, k := range sortedKeys(s.SetEnv) {
		fmt.Fprintf(&b, "\nenv set: %s=%s", k, s.SetEnv[k])
	}
	if d := s.dir(req.BaseDir); d != "" {
		b.WriteString("\nin directory: " + d)
	}
	if req.Timeout > 0 {
		b.WriteString("\ntimeout: " + human.Duration(req.Timeout))
	}
	return exec.Redact(b.String(), req.Redact)
}

// Run implements exec.Executor.
func (*Executor) Run(ctx context.Context, req exec.Request) (exec.Result, error) {
	s, err := decode(req.With, true)
	if err != nil {
		return exec.Result{}, err
	}
	argv, err := s.argv(req.BaseDir)
	if err != nil {
		return exec.Result{}, err
	}
	if req.DryRun {
		return exec.Result{Output: preview(s, argv, req)}, nil
	}
	ctx, cancel := req.WithTimeout(ctx)
	defer cancel()
	o, err := proc.Run(ctx, proc.Spec{
		Argv:              argv,
		Dir:               s.dir(req.BaseDir),
		Env:               proc.Env(req.Env, s.Env, s.SetEnv),
		OutputLimit:       req.OutputLimit,
		KillGrace:         req.KillGrace,
		FrozenParentLimit: req.FrozenLimit,
		StartBy:           req.StartBy,
		Redact:            req.Redact,
		Progress:          proc.StreamProgress(req.Progress),
	})
	res := exec.Result{
		Output:   o.Text(),
		ExitCode: o.ExitCode,
		Detail:   map[string]string{"exit_code": strconv.Itoa(o.ExitCode), "duration": o.Duration.Round(time.Millisecond).String()},
	}
	var ee *proc.ExitError
	if errors.As(err, &ee) && s.retryable[ee.Code] {
		err = exec.Retryable(err)
	}
	return res, err
}

// Probe implements exec.Prober: the program or script must be runnable.
func (*Executor) Probe(_ context.Context, req exec.Request) (string, error) {
	s, err := decode(req.With, true)
	if err != nil {
		return "", err
	}
	argv, err := s.argv(req.BaseDir)
	if err != nil {
		return err.Error(), nil
	}
	if s.Script == "" {
		if _, err := osexec.LookPath(argv[0]); err != nil {
			return fmt.Sprintf("program %q not found: %v", argv[0], err), nil
		}
		return "", nil
	}
	info, err := os.Stat(argv[0])
	if err != nil {
		return fmt.Sprintf("script %q: %v", s.Script, err), nil
	}
	if info.Mode()&0o111 == 0 {
		return fmt.Sprintf("script %q is not executable (chmod +x)", s.Script), nil
	}
	return "", nil
}
