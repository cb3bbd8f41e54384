package kubectl

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/backout/backout/internal/exec/proc"
	"github.com/backout/backout/internal/yamlx"
)

// with is the `with:` of a kubectl step: a typed action or raw args. Fields
// a template may fill are strings, parsed once rendered.
type with struct {
	KeyPos        map[string]yamlx.Pos
	Action        string   `yaml:"action"`
	Args          []string `yaml:"args"`
	Deployment    string   `yaml:"deployment"`
	Container     string   `yaml:"container"`
	Image         string   `yaml:"image"`
	ToRevision    string   `yaml:"to_revision"`
	Replicas      string   `yaml:"replicas"`
	Context       string   `yaml:"context"`
	Namespace     string   `yaml:"namespace"`
	KubeconfigEnv string   `yaml:"kubeconfig_env"`
}

// perm is one RBAC permission an action needs.
type perm struct{ verb, resource, subresource string }

func (p perm) String() string {
	if p.subresource != "" {
		return p.verb + " " + p.resource + "/" + p.subresource
	}
	return p.verb + " " + p.resource
}

// action describes one typed action: the fields it takes and the
// permissions it needs (checked by Probe).
type action struct {
	required []string
	optional []string
	perms    []perm
}

var actions = map[string]action{
	"set-image":      {required: []string{"deployment", "container", "image"}, perms: []perm{{"patch", "deployments", ""}}},
	"rollout-undo":   {required: []string{"deployment"}, optional: []string{"to_revision"}, perms: []perm{{"patch", "deployments", ""}, {"list", "replicasets", ""}}},
	"rollout-status": {required: []string{"deployment"}, perms: []perm{{"get", "deployments", ""}, {"watch", "deployments", ""}}},
	"scale":          {required: []string{"deployment", "replicas"}, perms: []perm{{"patch", "deployments", "scale"}}},
}

// actionFields are the keys that belong to typed actions.
var actionFields = []string{"deployment", "container", "image", "to_revision", "replicas"}

func actionNames() string {
	names := make([]string, 0, len(actions))
	for n := range actions {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

var (
	dnsSubdomain = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`)
	dnsLabel     = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
)

func templated(s string) bool { return strings.Contains(s, "{{") }

// spec is a decoded, checked step.
type spec struct {
	with
	action action
}

// decode reads `with:` strictly; at lint time (final false) values holding a
// template are accepted unparsed.
func decode(n yamlx.Node, final bool) (*spec, error) {
	var s spec
	if err := n.Decode(&s.with); err != nil {
		return nil, err
	}
	var errs yamlx.Errors
	at := func(key string) yamlx.Pos { return yamlx.KeyAt(n.Pos(), s.KeyPos, key) }
	_, hasArgs := s.KeyPos["args"]
	switch {
	case s.Action == "" && !hasArgs:
		errs.Addf(n.Pos(), `missing required field "action" or "args"`)
	case s.Action != "" && hasArgs:
		errs.Addf(at("args"), "args: set either action or args, not both")
	case hasArgs:
		checkArgs(&s, at, &errs)
	default:
		a, ok := actions[s.Action]
		if !ok {
			errs.Addf(at("action"), "action: unknown action %q (want %s)", s.Action, actionNames())
			break
		}
		s.action = a
		checkFields(&s, n.Pos(), at, &errs)
	}
	for _, f := range checkValues(&s.with, final) {
		errs.Addf(at(f.key), "%s: %s", f.key, f.msg)
	}
	return &s, errs.Err()
}

func checkArgs(s *spec, at func(string) yamlx.Pos, errs *yamlx.Errors) {
	switch {
	case len(s.Args) == 0:
		errs.Addf(at("args"), "args: must not be empty")
	case s.Args[0] == "kubectl":
		errs.Addf(at("args"), `args[0]: leave out "kubectl"; args are what follows it`)
	}
	for _, k := range actionFields {
		if _, ok := s.KeyPos[k]; ok {
			errs.Addf(at(k), "%s: not used with args (only with action)", k)
		}
	}
}

func checkFields(s *spec, mapping yamlx.Pos, at func(string) yamlx.Pos, errs *yamlx.Errors) {
	for _, k := range s.action.required {
		if _, ok := s.KeyPos[k]; !ok {
			errs.Addf(mapping, "missing required field %q for action %q", k, s.Action)
		}
	}
	for _, k := range actionFields {
		_, given := s.KeyPos[k]
		if given && !contains(s.action.required, k) && !contains(s.action.optional, k) {
			errs.Addf(at(k), "%s: not used by action %q", k, s.Action)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

type problem struct{ key, msg string }

// checkValues checks field contents. Run time sees rendered parameters, so
// names are held to Kubernetes syntax there as well as at lint time.
func checkValues(w *with, final bool) []problem {
	var ps []problem
	check := func(key, v string, f func(string) error) {
		if v == "" || (!final && templated(v)) {
			return
		}
		if err := f(v); err != nil {
			ps = append(ps, problem{key, err.Error()})
		}
	}
	check("deployment", w.Deployment, match(dnsSubdomain, "a Kubernetes name"))
	check("container", w.Container, match(dnsLabel, "a container name"))
	check("namespace", w.Namespace, match(dnsLabel, "a namespace name"))
	check("image", w.Image, func(v string) error {
		if strings.HasPrefix(v, "-") || strings.ContainsAny(v, " \t\r\n") {
			return fmt.Errorf("%q is not an image reference", v)
		}
		return nil
	})
	check("to_revision", w.ToRevision, intAtLeast(0))
	check("replicas", w.Replicas, intAtLeast(0))
	check("context", w.Context, func(v string) error {
		if strings.ContainsAny(v, "\r\n") {
			return errors.New("must be one line")
		}
		return nil
	})
	check("kubeconfig_env", w.KubeconfigEnv, func(v string) error {
		if !proc.ValidEnvName(v) {
			return fmt.Errorf("%q is not an environment variable name", v)
		}
		return nil
	})
	return ps
}

func match(re *regexp.Regexp, what string) func(string) error {
	return func(v string) error {
		if len(v) > 253 || !re.MatchString(v) {
			return fmt.Errorf("%q is not %s (lower-case letters, digits and '-')", v, what)
		}
		return nil
	}
}

func intAtLeast(lo int) func(string) error {
	return func(v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < lo {
			return fmt.Errorf("expected a whole number of at least %d, got %q", lo, v)
		}
		return nil
	}
}
