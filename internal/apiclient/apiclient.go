// Package apiclient is a small client of Backout's HTTP API (/api/v1) for
// pipelines: `bot deploy record` and `bot gate` use it. It knows the calls
// CI makes and nothing of the lifecycle behind them, so a pipeline
// runner needs only the bot binary and a token.
package apiclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DefaultTimeout bounds one call when the caller's context has no deadline:
// a pipeline step must fail, not hang, when the server does not answer.
const DefaultTimeout = 30 * time.Second

// maxBody caps how much of a response is read: answers are small JSON, and a
// proxy's error page must not fill a CI log.
const maxBody = 1 << 20

// Client calls one Backout server with one bearer token.
type Client struct {
	base  *url.URL
	token string
	http  *http.Client
}

// New checks the server URL and token. hc may be nil for a client with
// DefaultTimeout.
func New(server, token string, hc *http.Client) (*Client, error) {
	u, err := url.Parse(strings.TrimSpace(server))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("server %q: want the Backout server's base URL, such as https://backout.example.com", server)
	}
	if token == "" {
		return nil, errors.New("no API token: set BACKOUT_API_TOKEN")
	}
	if hc == nil {
		hc = &http.Client{Timeout: DefaultTimeout}
	}
	return &Client{base: u, token: token, http: hc}, nil
}

// APIError is an answer the server refused with: its status and the
// message of its JSON error body.
type APIError struct {
	Status  int
	Message string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("server answered %d %s: %s", e.Status, http.StatusText(e.Status), e.Message)
}

// DeployInput is the body of POST /api/v1/deploys. Empty optional fields are
// left out, so the server applies its defaults (environment from the
// service).
type DeployInput struct {
	Service       string `json:"service"`
	Version       string `json:"version"`
	Artifact      string `json:"artifact"`
	ConfigVersion string `json:"config_version,omitempty"`
	Environment   string `json:"environment,omitempty"`
	Commit        string `json:"commit,omitempty"`
	DeployedBy    string `json:"deployed_by,omitempty"`
	URL           string `json:"url,omitempty"`
	Risk          string `json:"risk,omitempty"`
}

// Deploy is a recorded deploy as the server returns it.
type Deploy struct {
	ID          string    `json:"id"`
	Service     string    `json:"service"`
	Version     string    `json:"version"`
	Artifact    string    `json:"artifact"`
	Environment string    `json:"environment,omitempty"`
	At          time.Time `json:"at"`
	Mutable     bool      `json:"mutable_artifact,omitempty"`
	// Unproven says why a high-risk deploy went out without a proven
	// rollback path; empty otherwise.
	Unproven []string `json:"rollback_unproven,omitempty"`
}

// Recorded is the answer to RecordDeploy: the deploy, and a warning when the
// artifact is a mutable reference (a tag rather than a digest).
type Recorded struct {
	Deploy  Deploy `json:"deploy"`
	Warning string `json:"warning,omitempty"`
}

// RecordDeploy reports a deploy, so Backout can link an alert to it and roll
// back to it.
func (c *Client) RecordDeploy(ctx context.Context, in DeployInput) (Recorded, error) {
	body, err := json.Marshal(in)
	if err != nil {
		return Recorded{}, fmt.Errorf("encode deploy: %w", err)
	}
	var out Recorded
	if err := c.do(ctx, http.MethodPost, "/api/v1/deploys", body, &out, http.StatusCreated); err != nil {
		return Recorded{}, fmt.Errorf("record deploy of %s: %w", in.Service, err)
	}
	return out, nil
}

// Gate is the pipeline gate of a service: closed while a rollback, an open
// incident or a freeze holds it or a service it depends on.
type Gate struct {
	Open   bool   `json:"open"`
	Reason string `json:"reason,omitempty"`
}

// Gate asks whether service may be deployed now. A closed gate is an
// answer, not an error: the server says 423 Locked with the reason.
func (c *Client) Gate(ctx context.Context, service string) (Gate, error) {
	var out Gate
	path := "/api/v1/services/" + url.PathEscape(service) + "/gate"
	if err := c.do(ctx, http.MethodGet, path, nil, &out, http.StatusOK, http.StatusLocked); err != nil {
		return Gate{}, fmt.Errorf("gate of %s: %w", service, err)
	}
	return out, nil
}

// Advisory is the change advisory gate's answer for one deploy: Open, or
// the reasons its rollback path is not proven; Evidence either way.
type Advisory struct {
	Service   string   `json:"service"`
	ForDeploy string   `json:"for_deploy,omitempty"`
	Risk      string   `json:"risk"`
	Open      bool     `json:"open"`
	Reasons   []string `json:"reasons,omitempty"`
	Evidence  []string `json:"evidence,omitempty"`
}

// Advisory asks whether a deploy of version at risk may ship: a high-risk
// one needs a fresh successful drill and a runbook that lints. A closed
// advisory is an answer (423 Locked), not an error.
func (c *Client) Advisory(ctx context.Context, service, version, risk string) (Advisory, error) {
	q := url.Values{"risk": {risk}}
	if version != "" {
		q.Set("for_deploy", version)
	}
	var out Advisory
	path := "/api/v1/services/" + url.PathEscape(service) + "/readiness?" + q.Encode()
	if err := c.do(ctx, http.MethodGet, path, nil, &out, http.StatusOK, http.StatusLocked); err != nil {
		return Advisory{}, fmt.Errorf("change advisory of %s: %w", service, err)
	}
	return out, nil
}

// AuditVerdict is the answer of GET /api/v1/audit/verify: OK, or the first
// broken link (Head is then the last intact one).
type AuditVerdict struct {
	OK     bool      `json:"ok"`
	Head   AuditHead `json:"head"`
	Events int64     `json:"events"`
	Keyed  bool      `json:"keyed"`
	From   int64     `json:"from"`
	Read   int64     `json:"read"`
	Error  string    `json:"error,omitempty"`
	Broken *struct {
		Seq    int64  `json:"seq"`
		Reason string `json:"reason"`
	} `json:"broken,omitempty"`
}

// AuditHead is a link of the audit chain.
type AuditHead struct {
	Seq  int64  `json:"seq"`
	Hash string `json:"hash"`
}

// VerifyAudit asks the server to verify its audit chain, and that it still
// reaches anchor (SEQ:HASH; empty: no anchor). A broken chain is an answer
// (409), not an error.
func (c *Client) VerifyAudit(ctx context.Context, anchor string, resume bool) (AuditVerdict, error) {
	q := url.Values{}
	if anchor != "" {
		q.Set("anchor", anchor)
	}
	if resume {
		q.Set("resume", "true")
	}
	path := "/api/v1/audit/verify"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var out AuditVerdict
	if err := c.do(ctx, http.MethodGet, path, nil, &out, http.StatusOK, http.StatusConflict); err != nil {
		return AuditVerdict{}, fmt.Errorf("verify the audit chain: %w", err)
	}
	return out, nil
}

// do sends one request and decodes a JSON answer whose status is one of ok;
// any other status becomes an *APIError carrying the server's message.
func (c *Client) do(ctx context.Context, method, path string, body []byte, out any, ok ...int) error {
	if _, has := ctx.Deadline(); !has && c.http.Timeout == 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultTimeout)
		defer cancel()
	}
	p, query, _ := strings.Cut(path, "?") // JoinPath would escape the "?"
	u := c.base.JoinPath(p)
	u.RawQuery = query
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, u.Redacted(), err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, u.Redacted(), err)
	}
	for _, code := range ok {
		if resp.StatusCode == code {
			if err := json.Unmarshal(data, out); err != nil {
				return fmt.Errorf("%s %s: answer is not the expected JSON (%d, %q): %w", method, u.Redacted(), resp.StatusCode, snippet(data), err)
			}
			return nil
		}
	}
	return &APIError{Status: resp.StatusCode, Message: errorMessage(data)}
}

// errorMessage is the server's {"error": "..."} message, or the start of the
// body when it is something else (a proxy's page).
func errorMessage(data []byte) string {
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(data, &e) == nil && e.Error != "" {
		return e.Error
	}
	if s := snippet(data); s != "" {
		return s
	}
	return "(empty body)"
}

func snippet(data []byte) string {
	s := strings.Join(strings.Fields(string(data)), " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
