package deploy_test

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
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

// stage is one FROM ... AS name of the Dockerfile and its instructions.
type stage struct {
	Name, From string
	Ins        []instruction
}

// last is the stage's last instruction of kind cmd (the one that wins).
func (s stage) last(cmd string) string {
	v := ""
	for _, in := range s.Ins {
		if in.Cmd == cmd {
			v = in.Args
		}
	}
	return v
}

// all lists the arguments of every instruction of kind cmd.
func (s stage) all(cmd string) []string {
	var out []string
	for _, in := range s.Ins {
		if in.Cmd == cmd {
			out = append(out, in.Args)
		}
	}
	return out
}

// dockerStages splits the Dockerfile into its stages; ARGs before the first
// FROM are returned as globals.
func dockerStages(t *testing.T) (map[string]string, []stage) {
	t.Helper()
	globals := map[string]string{}
	var stages []stage
	for _, in := range dockerInstructions(string(readFile(t, "Dockerfile"))) {
		if in.Cmd == "FROM" {
			from, name, ok := strings.Cut(in.Args, " AS ")
			if !ok {
				t.Fatalf("FROM %s has no stage name (AS ...)", in.Args)
			}
			stages = append(stages, stage{Name: name, From: from})
			continue
		}
		if len(stages) == 0 {
			if in.Cmd == "ARG" {
				k, v, _ := strings.Cut(in.Args, "=")
				globals[k] = v
			}
			continue
		}
		stages[len(stages)-1].Ins = append(stages[len(stages)-1].Ins, in)
	}
	return globals, stages
}

func stageArgs(s stage) map[string]string {
	args := map[string]string{}
	for _, a := range s.all("ARG") {
		k, v, _ := strings.Cut(a, "=")
		args[k] = v
	}
	return args
}

// TestDockerfile checks the stages: build, fetch (downloads verified
// tools), tools and minimal, minimal last so a plain `docker build` still
// makes the distroless image.
func TestDockerfile(t *testing.T) {
	globals, stages := dockerStages(t)
	var names []string
	byName := map[string]stage{}
	for _, s := range stages {
		names = append(names, s.Name)
		byName[s.Name] = s
	}
	if got := strings.Join(names, ","); got != "build,fetch,tools,minimal" {
		t.Fatalf("stages %s, want build,fetch,tools,minimal (minimal last: the default target)", got)
	}
	if want := goDirective(t); globals["GO_VERSION"] != want {
		t.Errorf("ARG GO_VERSION=%s, want %s to match go.mod", globals["GO_VERSION"], want)
	}
	build := byName["build"]
	if build.From != "golang:${GO_VERSION}" {
		t.Errorf("build stage FROM %q, want golang:${GO_VERSION}", build.From)
	}
	var goBuild string
	for _, r := range build.all("RUN") {
		if strings.Contains(r, "go build") {
			goBuild = r
		}
	}
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", `-ldflags "-s -w -X main.version=${VERSION}"`, "-o /out/bot ./cmd/bot"} {
		if !strings.Contains(goBuild, want) {
			t.Errorf("go build %q lacks %s", goBuild, want)
		}
	}
	if got := byName["minimal"].From; got != "gcr.io/distroless/static-debian12:nonroot" {
		t.Errorf("minimal stage FROM %q, want gcr.io/distroless/static-debian12:nonroot", got)
	}
	for _, s := range stages {
		if strings.HasSuffix(s.From, ":latest") || !strings.Contains(s.From, ":") {
			t.Errorf("stage %s FROM %q: pin a tag", s.Name, s.From)
		}
	}
	for _, name := range []string{"minimal", "tools"} {
		checkImageStage(t, byName[name])
	}
	checkFetch(t, byName["fetch"])
	tools := byName["tools"]
	if !slices.Contains(tools.all("COPY"), "--from=fetch /out/kubectl /out/helm /usr/local/bin/") {
		t.Errorf("tools stage does not copy kubectl and helm from fetch into /usr/local/bin: %q", tools.all("COPY"))
	}
	// A POSIX shell: the base must be a distribution, not distroless.
	if !strings.HasPrefix(tools.From, "debian:") {
		t.Errorf("tools stage FROM %q, want a debian image (it needs /bin/sh for the shell executor)", tools.From)
	}
}

// checkImageStage checks what both images share: the bot, the runbooks, a
// writable data directory, the non-root user and the entrypoint.
func checkImageStage(t *testing.T, s stage) {
	t.Helper()
	copies := s.all("COPY")
	for _, want := range []string{"--from=build /out/bot /bot", "--from=build /src/runbooks/ " + runbooksPath + "/", "--from=build --chown=65532:65532 /out/data /var/lib/backout"} {
		if !slices.Contains(copies, want) {
			t.Errorf("%s: no COPY %s", s.Name, want)
		}
	}
	if got := s.last("USER"); got != "65532:65532" {
		t.Errorf("%s: USER %q, want 65532:65532 (non-root; the chart's runAsUser)", s.Name, got)
	}
	if got := s.last("EXPOSE"); got != "8080" {
		t.Errorf("%s: EXPOSE %q, want 8080 (config listen default)", s.Name, got)
	}
	var entry, cmd []string
	if err := json.Unmarshal([]byte(s.last("ENTRYPOINT")), &entry); err != nil || len(entry) != 1 || entry[0] != "/bot" {
		t.Errorf(`%s: ENTRYPOINT %s, want ["/bot"] (exec form)`, s.Name, s.last("ENTRYPOINT"))
	}
	if err := json.Unmarshal([]byte(s.last("CMD")), &cmd); err != nil || strings.Join(cmd, " ") != "serve --config "+configPath {
		t.Errorf(`%s: CMD %s, want ["serve", "--config", %q]`, s.Name, s.last("CMD"), configPath)
	}
}

var (
	semver = regexp.MustCompile(`^v\d+\.\d+\.\d+$`)
	sha256 = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// checkFetch: the tools are pinned by version, and each download is
// verified with sha256sum -c against a pinned checksum per architecture.
func checkFetch(t *testing.T, s stage) {
	t.Helper()
	args := stageArgs(s)
	for _, v := range []string{"KUBECTL_VERSION", "HELM_VERSION"} {
		if !semver.MatchString(args[v]) {
			t.Errorf("ARG %s=%q, want a pinned vX.Y.Z", v, args[v])
		}
	}
	for _, tool := range []string{"KUBECTL", "HELM"} {
		for _, arch := range []string{"AMD64", "ARM64"} {
			k := tool + "_SHA256_" + arch
			if !sha256.MatchString(args[k]) {
				t.Errorf("ARG %s=%q, want a SHA-256 (64 hex digits)", k, args[k])
			}
		}
	}
	run := strings.Join(s.all("RUN"), "\n")
	for _, want := range []string{
		`https://dl.k8s.io/release/${KUBECTL_VERSION}/bin/linux/${arch}/kubectl`,
		`https://get.helm.sh/helm-${HELM_VERSION}-linux-${arch}.tar.gz`,
		`echo "${kubectl_sha}  kubectl" | sha256sum -c -`,
		`echo "${helm_sha}  helm.tar.gz" | sha256sum -c -`,
		`set -eu`,
		`set --build-arg KUBECTL_SHA256_`, // an empty checksum is a clear error
		`set --build-arg HELM_SHA256_`,
	} {
		if !strings.Contains(run, want) {
			t.Errorf("fetch stage RUN lacks %s", want)
		}
	}
	// Verification must come before the binaries are installed.
	if strings.Index(run, "sha256sum -c") > strings.Index(run, "install -m 0755") {
		t.Error("fetch stage installs a binary before verifying it")
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
