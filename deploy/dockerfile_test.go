package deploy_test

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// instruction is one Dockerfile instruction with continuations joined.
type instruction struct {
	Cmd  string // upper case: FROM, RUN, ...
	Args string
}

// dockerInstructions splits a Dockerfile into instructions: comments and
// blank lines dropped, backslash continuations joined.
func dockerInstructions(src string) []instruction {
	var out []instruction
	var cur strings.Builder
	flush := func() {
		line := strings.TrimSpace(cur.String())
		cur.Reset()
		if line == "" {
			return
		}
		cmd, args, _ := strings.Cut(line, " ")
		out = append(out, instruction{Cmd: strings.ToUpper(cmd), Args: strings.TrimSpace(args)})
	}
	for _, line := range strings.Split(src, "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") {
			continue
		}
		if body, ok := strings.CutSuffix(trimmed, `\`); ok {
			cur.WriteString(body + " ")
			continue
		}
		cur.WriteString(trimmed)
		flush()
	}
	flush()
	return out
}

func TestDockerfile(t *testing.T) {
	ins := dockerInstructions(string(readFile(t, "Dockerfile")))
	var froms []string
	args := map[string]string{}
	last := map[string]string{} // last instruction of each kind
	var build string
	for _, in := range ins {
		switch in.Cmd {
		case "FROM":
			froms = append(froms, in.Args)
		case "ARG":
			k, v, _ := strings.Cut(in.Args, "=")
			args[k] = v
		case "RUN":
			if strings.Contains(in.Args, "go build") {
				build = in.Args
			}
		}
		last[in.Cmd] = in.Args
	}
	if len(froms) != 2 {
		t.Fatalf("want a two-stage build, got FROM %q", froms)
	}
	if froms[0] != "golang:${GO_VERSION} AS build" {
		t.Errorf("build stage FROM %q, want golang:${GO_VERSION} AS build", froms[0])
	}
	if want := goDirective(t); args["GO_VERSION"] != want {
		t.Errorf("ARG GO_VERSION=%s, want %s to match go.mod", args["GO_VERSION"], want)
	}
	if froms[1] != "gcr.io/distroless/static-debian12:nonroot" {
		t.Errorf("final stage FROM %q, want gcr.io/distroless/static-debian12:nonroot", froms[1])
	}
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", `-ldflags "-s -w -X main.version=${VERSION}"`, "-o /out/bot ./cmd/bot"} {
		if !strings.Contains(build, want) {
			t.Errorf("go build %q lacks %s", build, want)
		}
	}
	if last["USER"] != "65532:65532" {
		t.Errorf("USER %q, want 65532:65532 (distroless nonroot)", last["USER"])
	}
	if last["EXPOSE"] != "8080" {
		t.Errorf("EXPOSE %q, want 8080 (config listen default)", last["EXPOSE"])
	}
	var entry, cmd []string
	if err := json.Unmarshal([]byte(last["ENTRYPOINT"]), &entry); err != nil || len(entry) != 1 || entry[0] != "/bot" {
		t.Errorf(`ENTRYPOINT %s, want ["/bot"] (exec form)`, last["ENTRYPOINT"])
	}
	if err := json.Unmarshal([]byte(last["CMD"]), &cmd); err != nil || strings.Join(cmd, " ") != "serve --config "+configPath {
		t.Errorf(`CMD %s, want ["serve", "--config", %q]`, last["CMD"], configPath)
	}
	if !regexp.MustCompile(`(?m)^COPY --from=build /src/runbooks/ /etc/backout/runbooks/$`).Match(readFile(t, "Dockerfile")) {
		t.Error("the image must carry the runbooks at " + runbooksPath)
	}
}

var goLine = regexp.MustCompile(`(?m)^go (\d+\.\d+)`)

// goDirective is go.mod's language version, major.minor.
func goDirective(t *testing.T) string {
	t.Helper()
	m := goLine.FindSubmatch(readFile(t, filepath.Join(repoRoot, "go.mod")))
	if m == nil {
		t.Fatal("go.mod has no go directive")
	}
	return string(m[1])
}

// TestVersionVariable: -X main.version only works on a package-level string
// variable of package main, and silently does nothing otherwise.
func TestVersionVariable(t *testing.T) {
	dir := filepath.Join(repoRoot, "cmd", "bot")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("%s not present yet: %v", dir, err)
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no Go files in %s: %v", dir, err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatalf("parse %s: %v", name, err)
		}
		if f.Name.Name != "main" {
			t.Fatalf("%s is package %s, want main", name, f.Name.Name)
		}
		if hasVersionVar(t, f) {
			return
		}
	}
	t.Error("package main in cmd/bot has no package-level `var version string`; the Dockerfile's -X main.version=... would be ignored")
}

// hasVersionVar reports whether f declares a package-level variable version
// that -X can set (no initialiser, or a string literal one).
func hasVersionVar(t *testing.T, f *ast.File) bool {
	t.Helper()
	for _, d := range f.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.VAR {
			continue
		}
		for _, s := range gd.Specs {
			vs := s.(*ast.ValueSpec)
			for i, n := range vs.Names {
				if n.Name != "version" {
					continue
				}
				if len(vs.Values) > i {
					if _, lit := vs.Values[i].(*ast.BasicLit); !lit {
						t.Errorf("main.version is initialised by an expression; -X only overrides a constant string")
					}
				}
				return true
			}
		}
	}
	return false
}
