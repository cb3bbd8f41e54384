package deploy_test

import (
	"bytes"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dlclark/regexp2"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// slackSchemaPath is Slack's published app manifest JSON Schema. It lives in
// the shared folder beside the repository (read-only, not vendored here).
var slackSchemaPath = filepath.Join(repoRoot, "..", "shared", "schemas", "slack-app-manifest.schema.1.0.0.json")

// slackSchema compiles the manifest schema, skipping the test when the shared
// folder is absent on a developer machine; in CI (CI=true) that is a failure.
func slackSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	data, err := os.ReadFile(slackSchemaPath)
	if errors.Is(err, os.ErrNotExist) {
		msg := "Slack app manifest schema not found at " + slackSchemaPath +
			" (expected shared/schemas/ as a sibling of the repository)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	if err != nil {
		t.Fatalf("read schema: %v", err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("parse schema %s: %v", slackSchemaPath, err)
	}
	c := jsonschema.NewCompiler()
	// JSON Schema patterns are ECMA-262 regular expressions, and Slack's use
	// lookahead, which Go's regexp lacks.
	c.UseRegexpEngine(ecmaRegexp)
	const loc = "slack-app-manifest.schema.json"
	if err := c.AddResource(loc, doc); err != nil {
		t.Fatalf("add schema: %v", err)
	}
	sch, err := c.Compile(loc)
	if err != nil {
		t.Fatalf("compile schema: %v", err)
	}
	return sch
}

// ecmaRegexp compiles schema patterns with ECMAScript semantics.
func ecmaRegexp(pattern string) (jsonschema.Regexp, error) {
	re, err := regexp2.Compile(pattern, regexp2.ECMAScript)
	if err != nil {
		return nil, err
	}
	return ecmaPattern{re}, nil
}

type ecmaPattern struct{ re *regexp2.Regexp }

func (p ecmaPattern) MatchString(s string) bool {
	ok, err := p.re.MatchString(s)
	return err == nil && ok
}

func (p ecmaPattern) String() string { return p.re.String() }

// validateManifest checks YAML manifest bytes against the schema.
func validateManifest(sch *jsonschema.Schema, data []byte) error {
	js, err := yamlToJSON(data)
	if err != nil {
		return err
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
	if err != nil {
		return err
	}
	return sch.Validate(inst)
}

func TestSlackManifestsMatchSchema(t *testing.T) {
	sch := slackSchema(t)
	for _, file := range []string{"slack-app-manifest.yaml", "slack-app-manifest.socket-mode.yaml"} {
		t.Run(file, func(t *testing.T) {
			if err := validateManifest(sch, readFile(t, file)); err != nil {
				t.Errorf("%s does not match Slack's manifest schema:\n%v", file, err)
			}
		})
	}
}

// TestSlackSchemaRejects proves the validation above is live: manifests with
// the mistakes the schema exists to catch are refused.
func TestSlackSchemaRejects(t *testing.T) {
	sch := slackSchema(t)
	base := string(readFile(t, "slack-app-manifest.yaml"))
	tests := []struct {
		name, old, new string
	}{
		{"unknown top-level key", "display_information:", "display_info:\n  name: x\ndisplay_information:"},
		{"command without slash", "- command: /rollback", "- command: rollback"},
		{"request url not http", "request_url: https://backout.example.com/slack/interactions", "request_url: backout.example.com/slack/interactions"},
		{"socket mode not a boolean", "socket_mode_enabled: false", "socket_mode_enabled: nope"},
		{"interactivity without is_enabled", "    is_enabled: true\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(base, tt.old) {
				t.Fatalf("manifest no longer contains %q: update the test", tt.old)
			}
			bad := strings.Replace(base, tt.old, tt.new, 1)
			if err := validateManifest(sch, []byte(bad)); err == nil {
				t.Errorf("schema accepted a manifest with %s", tt.name)
			}
		})
	}
}

// Routes served by internal/server that the manifest points Slack at.
const (
	routeCommands     = "/slack/commands"
	routeInteractions = "/slack/interactions"
	routeEvents       = "/slack/events"
)

func TestSlackManifestContent(t *testing.T) {
	wantScopes := []string{"commands", "chat:write", "usergroups:read", "users:read", "users:read.email", "files:write", "app_mentions:read"}
	tests := []struct {
		file   string
		socket bool
	}{
		{"slack-app-manifest.yaml", false},
		{"slack-app-manifest.socket-mode.yaml", true},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			docs := yamlDocs(t, tt.file, readFile(t, tt.file))
			if len(docs) != 1 {
				t.Fatalf("want one YAML document, got %d", len(docs))
			}
			m := map[string]any(docs[0])
			if v, _ := dig(m, "_metadata", "major_version"); v != 1 {
				t.Errorf("_metadata.major_version = %v, want 1", v)
			}
			cmds := digList(m, "features", "slash_commands")
			if len(cmds) != 1 || digString(cmds[0], "command") != "/rollback" {
				t.Fatalf("slash_commands = %v, want exactly /rollback (config slack.command default)", cmds)
			}
			if got, want := digString(cmds[0], "usage_hint"), "propose <service> [to <version>] [reason] | status | help"; got != want {
				t.Errorf("usage_hint = %q, want %q", got, want)
			}
			if v, _ := dig(cmds[0], "should_escape"); v != false {
				t.Errorf("should_escape = %v, want false (the grammar parses raw text)", v)
			}
			var scopes []string
			for _, s := range digList(m, "oauth_config", "scopes", "bot") {
				scopes = append(scopes, s.(string))
			}
			for _, s := range wantScopes {
				if !slices.Contains(scopes, s) {
					t.Errorf("bot scopes %v lack %q", scopes, s)
				}
			}
			if ev := digList(m, "settings", "event_subscriptions", "bot_events"); !slices.Contains(ev, any("app_mention")) {
				t.Errorf("bot_events = %v, want app_mention", ev)
			}
			if v, _ := dig(m, "settings", "org_deploy_enabled"); v != false {
				t.Errorf("org_deploy_enabled = %v, want false", v)
			}
			if v, _ := dig(m, "settings", "socket_mode_enabled"); v != tt.socket {
				t.Errorf("socket_mode_enabled = %v, want %v", v, tt.socket)
			}
			urls := map[string]string{
				"slash command": digString(cmds[0], "url"),
				"interactivity": digString(m, "settings", "interactivity", "request_url"),
				"events":        digString(m, "settings", "event_subscriptions", "request_url"),
			}
			if tt.socket {
				for what, u := range urls {
					if u != "" {
						t.Errorf("socket-mode manifest has a %s URL %q; Slack would call it instead of the socket", what, u)
					}
				}
				return
			}
			checkRequestURL(t, urls["slash command"], routeCommands)
			checkRequestURL(t, urls["interactivity"], routeInteractions)
			checkRequestURL(t, urls["events"], routeEvents)
		})
	}
}

func checkRequestURL(t *testing.T, raw, route string) {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.Path != route {
		t.Errorf("request URL %q: want https://<public host>%s", raw, route)
	}
}
