package proc

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// Lookup finds an environment variable; nil means the process environment.
type Lookup func(string) (string, bool)

// BaseEnv is passed to every child when set: a program needs a PATH to find
// its helpers and a HOME for its config directory.
var BaseEnv = []string{"PATH", "HOME"}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// ValidEnvName reports whether name can be an environment variable name.
func ValidEnvName(name string) bool { return envName.MatchString(name) }

// Env builds a child environment: BaseEnv and the allowed names taken from
// lookup when present, then the literal values in set (which win).
func Env(lookup Lookup, allow []string, set map[string]string) []string {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	seen := map[string]bool{}
	env := []string{}
	for _, name := range append(append([]string{}, BaseEnv...), allow...) {
		if _, literal := set[name]; seen[name] || literal {
			continue
		}
		seen[name] = true
		if v, ok := lookup(name); ok {
			env = append(env, name+"="+v)
		}
	}
	for _, k := range sortedKeys(set) {
		env = append(env, k+"="+set[k])
	}
	return env
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// ResolveUnder resolves p against base and refuses anything that ends up
// outside base, lexically or through a symlink. Absolute paths are allowed
// when they point inside base.
func ResolveUnder(base, p string) (string, error) {
	if base == "" {
		return "", fmt.Errorf("path %q: no base directory to resolve it against", p)
	}
	absBase, err := filepath.Abs(base)
	if err != nil {
		return "", fmt.Errorf("base directory %q: %w", base, err)
	}
	full := p
	if !filepath.IsAbs(p) {
		full = filepath.Join(absBase, p)
	}
	full = filepath.Clean(full)
	if !within(absBase, full) {
		return "", fmt.Errorf("path %q is outside %s", p, base)
	}
	realBase, err := filepath.EvalSymlinks(absBase)
	if err != nil {
		return "", fmt.Errorf("base directory %q: %w", base, err)
	}
	real, err := filepath.EvalSymlinks(full)
	if err != nil {
		return "", fmt.Errorf("path %q: %w", p, err)
	}
	if !within(realBase, real) {
		return "", fmt.Errorf("path %q leads outside %s through a symlink", p, base)
	}
	return full, nil
}

// CheckLocal is the lint-time half of ResolveUnder, done lexically: a
// relative p must not climb out with "..", and an absolute p must lie under
// base when base is known ("" skips that check until run time).
func CheckLocal(base, p string) error {
	if filepath.IsAbs(p) {
		if base != "" && !within(filepath.Clean(base), filepath.Clean(p)) {
			return fmt.Errorf("path %q is outside the runbooks directory", p)
		}
		return nil
	}
	if !filepath.IsLocal(p) {
		return fmt.Errorf("path %q must stay inside the runbooks directory", p)
	}
	return nil
}

func within(base, p string) bool {
	rel, err := filepath.Rel(base, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

var plain = regexp.MustCompile(`^[A-Za-z0-9@%+=:,./_-]+$`)

// Quote renders argv for display as a POSIX shell would read it. It is for
// people only: nothing built here is ever executed.
func Quote(argv []string) string {
	parts := make([]string, len(argv))
	for i, a := range argv {
		switch {
		case a == "":
			parts[i] = "''"
		case plain.MatchString(a):
			parts[i] = a
		default:
			parts[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
	}
	return strings.Join(parts, " ")
}
