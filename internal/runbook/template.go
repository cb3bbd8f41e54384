package runbook

import (
	"bytes"
	"fmt"
	"io"
	"reflect"
	"strings"
	"text/template"
	"text/template/parse"

	"go.yaml.in/yaml/v3"

	"github.com/backout/backout/internal/yamlx"
)

// Context is what templates in a runbook see. It is documented in the README;
// lint checks every reference against it.
type Context struct {
	Service  ServiceInfo       // the service going back
	Target   Release           // what it goes back to
	Current  Release           // what is running now
	Params   map[string]string // the runbook's params, after defaults and service overrides
	Rollback RollbackInfo      // the rollback this run belongs to
	Drill    DrillInfo         // drill mode, when this is a drill
}

// ServiceInfo describes the service in templates.
type ServiceInfo struct {
	Name        string
	Environment string
	Channel     string
}

// Release is one deployed version of a service.
type Release struct {
	Version       string
	Artifact      string
	ConfigVersion string
	Commit        string
}

// RollbackInfo identifies the rollback in templates.
type RollbackInfo struct {
	ID        string
	Requester string
	Reason    string
	Trigger   string
}

// DrillInfo says whether this run is a drill.
type DrillInfo struct {
	Enabled     bool
	Mode        string
	Environment string
}

// funcs are the template functions beyond text/template's builtins.
var funcs = template.FuncMap{
	"default": func(def, v string) string {
		if v == "" {
			return def
		}
		return v
	},
	"lower":      strings.ToLower,
	"upper":      strings.ToUpper,
	"trimPrefix": strings.TrimPrefix,
}

// Render executes one template string against ctx. A missing map key is an
// error, never an empty string, so a typo cannot become an empty argument.
func Render(text string, ctx Context) (string, error) {
	if !strings.Contains(text, "{{") {
		return text, nil
	}
	t, err := template.New("").Funcs(funcs).Option("missingkey=error").Parse(text)
	if err != nil {
		return "", fmt.Errorf("template %q: %w", text, err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, ctx); err != nil {
		return "", fmt.Errorf("template %q: %w", text, err)
	}
	return b.String(), nil
}

// RenderNode renders every scalar string of a `with:` tree, returning a new
// tree. Each value is rendered on its own and stays one value: a template
// never produces YAML structure, so user text cannot inject arguments.
func RenderNode(n yamlx.Node, ctx Context) (yamlx.Node, error) {
	if n.Node == nil {
		return n, nil
	}
	var errs yamlx.Errors
	out := renderNode(n.File, n.Node, ctx, &errs)
	return yamlx.Node{File: n.File, Node: out}, errs.Err()
}

func renderNode(file string, n *yaml.Node, ctx Context, errs *yamlx.Errors) *yaml.Node {
	cp := *n
	if n.Kind == yaml.ScalarNode {
		if strings.Contains(n.Value, "{{") {
			v, err := Render(n.Value, ctx)
			if err != nil {
				errs.Addf(yamlx.Pos{File: file, Line: n.Line, Col: n.Column}, "%v", err)
			}
			cp.Value = v
			cp.Tag = "!!str"
			cp.Style = yaml.DoubleQuotedStyle
		}
		return &cp
	}
	cp.Content = make([]*yaml.Node, len(n.Content))
	for i, c := range n.Content {
		cp.Content[i] = renderNode(file, c, ctx, errs)
	}
	if n.Alias != nil {
		cp.Alias = renderNode(file, n.Alias, ctx, errs)
	}
	return &cp
}

// Truthy interprets a rendered `if:` value.
func Truthy(s string) bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "false", "0", "no", "off", "<no value>":
		return false
	}
	return true
}

var contextType = reflect.TypeOf(Context{})

// CheckTemplate parses text and reports references to fields the context
// lacks and params the runbook does not declare.
func CheckTemplate(text string, params map[string]ParamSpec) []string {
	if !strings.Contains(text, "{{") {
		return nil
	}
	t, err := template.New("").Funcs(funcs).Parse(text)
	if err != nil {
		msg := err.Error()
		if i := strings.Index(msg, ": "); i >= 0 && strings.HasPrefix(msg, "template: ") {
			msg = msg[i+2:]
		}
		return []string{"invalid template: " + msg}
	}
	var problems []string
	seen := map[string]bool{}
	report := func(p string) {
		if !seen[p] {
			seen[p] = true
			problems = append(problems, p)
		}
	}
	var walk func(node parse.Node)
	walk = func(node parse.Node) {
		switch x := node.(type) {
		case *parse.ListNode:
			if x == nil {
				return
			}
			for _, c := range x.Nodes {
				walk(c)
			}
		case *parse.ActionNode:
			walk(x.Pipe)
		case *parse.PipeNode:
			if x == nil {
				return
			}
			for _, c := range x.Cmds {
				walk(c)
			}
		case *parse.CommandNode:
			for _, a := range x.Args {
				walk(a)
			}
		case *parse.FieldNode:
			if p := checkFieldPath(x.Ident, params); p != "" {
				report(p)
			}
		case *parse.IfNode:
			walk(x.Pipe)
			walk(x.List)
			walk(x.ElseList)
		case *parse.RangeNode:
			walk(x.Pipe)
		case *parse.WithNode:
			walk(x.Pipe)
		}
	}
	walk(t.Tree.Root)
	if len(problems) == 0 {
		problems = trialRender(t, params)
	}
	return problems
}

// trialRender catches param references the walk above cannot follow ($.Params.x,
// variables, with bodies) by rendering against every declared param. A range
// could loop for long, so templates with one are not trial-rendered.
func trialRender(t *template.Template, params map[string]ParamSpec) []string {
	if strings.Contains(t.Tree.Root.String(), "range") {
		return nil
	}
	ctx := Context{Params: map[string]string{}}
	for name := range params {
		ctx.Params[name] = "x"
	}
	err := t.Option("missingkey=error").Execute(io.Discard, ctx)
	if err == nil || !strings.Contains(err.Error(), "map has no entry for key") {
		return nil
	}
	msg := err.Error()
	if i := strings.Index(msg, "map has no entry for key"); i >= 0 {
		msg = msg[i:]
	}
	return []string{fmt.Sprintf("undeclared param: %s (declare it under params)", msg)}
}

func checkFieldPath(path []string, params map[string]ParamSpec) string {
	full := "." + strings.Join(path, ".")
	t := contextType
	for i, name := range path {
		if t.Kind() == reflect.Map {
			if i == 1 && path[0] == "Params" {
				if _, ok := params[name]; !ok {
					return fmt.Sprintf("%s: param %q is not declared under params", full, name)
				}
			}
			if i+1 < len(path) {
				return fmt.Sprintf("%s: %s is a string and has no field %q", full, strings.Join(path[:i+1], "."), path[i+1])
			}
			return ""
		}
		if t.Kind() != reflect.Struct {
			return fmt.Sprintf("%s: %s has no field %q", full, strings.Join(path[:i], "."), name)
		}
		f, ok := t.FieldByName(name)
		if !ok {
			where := "the template context"
			if i > 0 {
				where = "." + strings.Join(path[:i], ".")
			}
			return fmt.Sprintf("%s: %s has no field %q (have %s)", full, where, name, fieldList(t))
		}
		t = f.Type
	}
	return ""
}

func fieldList(t reflect.Type) string {
	var names []string
	for i := 0; i < t.NumField(); i++ {
		names = append(names, "."+t.Field(i).Name)
	}
	return strings.Join(names, ", ")
}

// ScalarStrings visits every scalar in a tree with its position.
func ScalarStrings(n yamlx.Node, visit func(pos yamlx.Pos, value string)) {
	if n.Node == nil {
		return
	}
	var walk func(x *yaml.Node)
	walk = func(x *yaml.Node) {
		if x.Kind == yaml.ScalarNode {
			visit(yamlx.Pos{File: n.File, Line: x.Line, Col: x.Column}, x.Value)
			return
		}
		for _, c := range x.Content {
			walk(c)
		}
	}
	walk(n.Node)
}
