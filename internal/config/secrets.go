package config

import (
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/backout/backout/internal/yamlx"
)

// Secret is a credential read from the environment. It never prints: every
// formatting path (fmt, JSON, slog) yields "[redacted]".
type Secret string

const redacted = "[redacted]"

func (s Secret) String() string                { return redacted }
func (s Secret) GoString() string              { return redacted }
func (s Secret) LogValue() slog.Value          { return slog.StringValue(redacted) }
func (s Secret) MarshalJSON() ([]byte, error)  { return []byte(`"` + redacted + `"`), nil }
func (s Secret) MarshalText() ([]byte, error)  { return []byte(redacted), nil }
func (s Secret) Format(f fmt.State, verb rune) { _, _ = f.Write([]byte(redacted)) }

// Reveal returns the secret's value, for the one place that must send it.
func (s Secret) Reveal() string { return string(s) }

// Set reports whether the secret has a value.
func (s Secret) Set() bool { return s != "" }

// Secrets are every credential Backout uses, by environment variable.
type Secrets struct {
	SlackBotToken          Secret
	SlackSigningSecret     Secret
	SlackAppToken          Secret
	PagerDutyToken         Secret
	PagerDutyWebhookSecret Secret // comma-separated to accept several during rotation
	APIToken               Secret
	RedisPassword          Secret
	AlertmanagerToken      Secret // bearer token for /webhooks/alertmanager
	AlertmanagerBasicAuth  Secret // user:password for /webhooks/alertmanager
	// AuditKey keys the audit chain (HMAC-SHA256): without it, anyone who
	// can write to the store can rewrite the chain consistently.
	AuditKey Secret
}

// SecretEnvVars names the environment variables Secrets reads.
var SecretEnvVars = []string{
	"SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "PAGERDUTY_TOKEN",
	"PAGERDUTY_WEBHOOK_SECRET", "BACKOUT_API_TOKEN", "REDIS_PASSWORD",
	"ALERTMANAGER_TOKEN", "ALERTMANAGER_BASIC_AUTH", "BACKOUT_AUDIT_KEY",
}

// SecretsFromEnv reads the secrets.
func SecretsFromEnv(getenv func(string) string) Secrets {
	return Secrets{
		SlackBotToken:          Secret(getenv("SLACK_BOT_TOKEN")),
		SlackSigningSecret:     Secret(getenv("SLACK_SIGNING_SECRET")),
		SlackAppToken:          Secret(getenv("SLACK_APP_TOKEN")),
		PagerDutyToken:         Secret(getenv("PAGERDUTY_TOKEN")),
		PagerDutyWebhookSecret: Secret(getenv("PAGERDUTY_WEBHOOK_SECRET")),
		APIToken:               Secret(getenv("BACKOUT_API_TOKEN")),
		RedisPassword:          Secret(getenv("REDIS_PASSWORD")),
		AlertmanagerToken:      Secret(getenv("ALERTMANAGER_TOKEN")),
		AlertmanagerBasicAuth:  Secret(getenv("ALERTMANAGER_BASIC_AUTH")),
		AuditKey:               Secret(getenv("BACKOUT_AUDIT_KEY")),
	}
}

// Values lists every non-empty secret value, for redacting step output and logs.
func (s Secrets) Values() []string {
	var out []string
	for _, v := range []Secret{s.SlackBotToken, s.SlackSigningSecret, s.SlackAppToken, s.PagerDutyToken,
		s.PagerDutyWebhookSecret, s.APIToken, s.RedisPassword, s.AlertmanagerToken, s.AlertmanagerBasicAuth, s.AuditKey} {
		if v != "" {
			out = append(out, string(v))
			if strings.Contains(string(v), ",") {
				out = append(out, strings.Split(string(v), ",")...)
			}
		}
	}
	return out
}

// secretKeys are keys that would hold a credential; where one appears in the
// file it is refused with the variable to use instead.
var secretKeys = map[string]string{
	"token": "", "bot_token": "SLACK_BOT_TOKEN", "app_token": "SLACK_APP_TOKEN",
	"signing_secret": "SLACK_SIGNING_SECRET", "webhook_secret": "PAGERDUTY_WEBHOOK_SECRET",
	"api_token": "BACKOUT_API_TOKEN", "api_key": "", "password": "REDIS_PASSWORD", "secret": "",
	"routing_key": "", "audit_key": "BACKOUT_AUDIT_KEY",
}

// secretValue matches values shaped like well-known credentials.
var secretValue = regexp.MustCompile(`^(xox[abposr]-|xapp-|u\+[A-Za-z0-9_-]{16,})`)

// urlInText finds URLs anywhere in a value (a param may embed one in a
// longer string), up to the first space or quote.
var urlInText = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]*://[^\s"'<>]+`)

// urlPassword reports whether v holds a URL whose userinfo carries a
// password, e.g. redis://:hunter2@host or https://ci:tok@host. An empty
// user name does not make it less of a secret, and url.Parse is the judge
// so that percent-encoded passwords are caught too; a user name alone is
// not a credential.
func urlPassword(v string) bool {
	for _, raw := range urlInText.FindAllString(v, -1) {
		u, err := url.Parse(raw)
		if err != nil {
			// Unparseable, but shaped like user:password@: refuse rather
			// than let a credential through on a technicality.
			if strings.Contains(raw, "@") && strings.Contains(raw[strings.Index(raw, "://")+3:strings.LastIndex(raw, "@")], ":") {
				return true
			}
			continue
		}
		if p, ok := u.User.Password(); ok && p != "" {
			return true
		}
	}
	return false
}

func checkNoSecrets(file string, data []byte, errs *yamlx.Errors) {
	var root yaml.Node
	if yaml.Unmarshal(data, &root) != nil {
		return // the decoder reports syntax errors
	}
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		switch n.Kind {
		case yaml.DocumentNode, yaml.SequenceNode:
			for _, c := range n.Content {
				walk(c)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				if env, ok := secretKeys[strings.ToLower(k.Value)]; ok && v.Kind == yaml.ScalarNode && v.Value != "" {
					hint := "set it in the environment instead"
					if env != "" {
						hint = "set " + env + " in the environment instead"
					}
					errs.Addf(yamlx.Pos{File: file, Line: k.Line, Col: k.Column},
						"%q looks like a secret: secrets are never read from the config file; %s", k.Value, hint)
					continue
				}
				walk(v)
			}
		case yaml.ScalarNode:
			if urlPassword(n.Value) {
				errs.Addf(yamlx.Pos{File: file, Line: n.Line, Col: n.Column},
					"URL with a password: secrets are never read from the config file; drop the password from the URL and set it in the environment (REDIS_PASSWORD for store.url)")
			} else if secretValue.MatchString(n.Value) {
				errs.Addf(yamlx.Pos{File: file, Line: n.Line, Col: n.Column},
					"value looks like a credential: secrets are never read from the config file; use the environment (e.g. SLACK_BOT_TOKEN, REDIS_PASSWORD)")
			}
		}
	}
	walk(&root)
}
