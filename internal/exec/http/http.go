// Package http is the `uses: http` executor: one HTTP request whose status
// (and optionally one JSON field) decides success. Header secrets come from
// the environment by name and never appear in previews or output.
package http

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	stdhttp "net/http"
	"os"
	"strconv"
	"strings"

	"github.com/backout/backout/internal/exec"
	"github.com/backout/backout/internal/yamlx"
)

// maxBody bounds how much of a response is read, checked and shown.
const maxBody = 1 << 20

// defaultOutputLimit applies when the request sets none.
const defaultOutputLimit = 64 << 10

// Executor is the `uses: http` executor.
type Executor struct {
	// base is cloned per request so tests can point at httptest servers.
	base *stdhttp.Transport
}

// New returns the http executor.
func New() *Executor {
	return &Executor{base: stdhttp.DefaultTransport.(*stdhttp.Transport)}
}

// Name implements exec.Executor.
func (*Executor) Name() string { return "http" }

// Validate implements exec.Executor.
func (*Executor) Validate(with yamlx.Node) error {
	_, err := decode(with, false)
	return err
}

// call is one request ready to send, with the secrets it carries.
type call struct {
	spec    *spec
	headers stdhttp.Header
	secrets []string // header values to redact, plus the request's own
	body    []byte
}

func prepare(req exec.Request, resolveSecrets bool) (*call, error) {
	s, err := decode(req.With, true)
	if err != nil {
		return nil, err
	}
	c := &call{spec: s, headers: stdhttp.Header{}, secrets: append([]string{}, req.Redact...)}
	for k, v := range s.Headers {
		c.headers.Set(k, v)
	}
	lookup := req.Env
	if lookup == nil {
		lookup = os.LookupEnv
	}
	for _, k := range sortedKeys(s.SecretHeaders) {
		v := "[redacted]"
		if resolveSecrets {
			var ok bool
			if v, ok = lookup(s.SecretHeaders[k]); !ok || v == "" {
				return nil, fmt.Errorf("secret_headers.%s: environment variable %q is not set", k, s.SecretHeaders[k])
			}
			c.secrets = append(c.secrets, v)
		}
		c.headers.Set(k, v)
	}
	switch {
	case !s.JSON.IsZero():
		if c.body, err = s.JSON.MarshalJSON(); err != nil {
			return nil, fmt.Errorf("json: %w", err)
		}
		if c.headers.Get("Content-Type") == "" {
			c.headers.Set("Content-Type", "application/json")
		}
	case s.Body != "":
		c.body = []byte(s.Body)
	}
	return c, nil
}

// Preview implements exec.Executor: method, URL, headers and body, with
// secret header values shown as [redacted].
func (*Executor) Preview(_ context.Context, req exec.Request) (string, error) {
	c, err := prepare(req, false)
	if err != nil {
		return "", err
	}
	return c.preview(), nil
}

func (c *call) preview() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", c.spec.method, c.spec.URL)
	for _, k := range sortedHeaderKeys(c.headers) {
		fmt.Fprintf(&b, "\n%s: %s", k, c.headers.Get(k))
	}
	if len(c.body) > 0 {
		b.WriteString("\n\n" + string(c.body))
	}
	return exec.Redact(b.String(), c.secrets)
}

func sortedHeaderKeys(h stdhttp.Header) []string {
	m := make(map[string]string, len(h))
	for k := range h {
		m[k] = ""
	}
	return sortedKeys(m)
}

// Run implements exec.Executor. 429, 5xx and transport errors are
// retryable; any other unexpected status is not.
func (e *Executor) Run(ctx context.Context, req exec.Request) (exec.Result, error) {
	c, err := prepare(req, !req.DryRun)
	if err != nil {
		return exec.Result{}, err
	}
	if req.DryRun {
		return exec.Result{Output: c.preview()}, nil
	}
	client, err := e.client(c.spec)
	if err != nil {
		return exec.Result{}, err
	}
	ctx, cancel := req.WithTimeout(ctx)
	defer cancel()
	hreq, err := stdhttp.NewRequestWithContext(ctx, c.spec.method, c.spec.URL, bytes.NewReader(c.body))
	if err != nil {
		return exec.Result{}, c.redacted(fmt.Errorf("build request: %w", err))
	}
	hreq.Header = c.headers
	if req.Late() {
		return exec.Result{}, fmt.Errorf("request %w", exec.ErrStartBy)
	}
	resp, err := client.Do(hreq)
	if err != nil {
		return exec.Result{}, c.transportError(err)
	}
	defer resp.Body.Close()
	body, readErr := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if readErr != nil {
		return exec.Result{}, exec.Retryable(c.redacted(fmt.Errorf("read response: %w", readErr)))
	}
	res := exec.Result{
		Output: c.output(resp, body, req.OutputLimit),
		Detail: map[string]string{"status": strconv.Itoa(resp.StatusCode)},
	}
	return res, c.check(resp, body)
}

func (e *Executor) client(s *spec) (*stdhttp.Client, error) {
	t := e.base.Clone()
	if s.TLS != nil {
		// insecure_skip_verify is an explicit, per-step opt-in.
		cfg := &tls.Config{InsecureSkipVerify: s.TLS.InsecureSkipVerify}
		if s.TLS.CAFile != "" {
			pem, err := os.ReadFile(s.TLS.CAFile)
			if err != nil {
				return nil, fmt.Errorf("tls.ca_file: %w", err)
			}
			pool, err := x509.SystemCertPool()
			if err != nil {
				pool = x509.NewCertPool()
			}
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("tls.ca_file %s: no PEM certificates found", s.TLS.CAFile)
			}
			cfg.RootCAs = pool
		}
		t.TLSClientConfig = cfg
	}
	return &stdhttp.Client{Transport: t}, nil
}

// transportError classifies a failed round trip: a cancel by the caller
// and a certificate problem are final; anything else may be transient.
func (c *call) transportError(err error) error {
	err = c.redacted(fmt.Errorf("%s %s: %w", c.spec.method, c.spec.URL, err))
	var certErr *tls.CertificateVerificationError
	if errors.Is(err, context.Canceled) || errors.As(err, &certErr) {
		return err
	}
	return exec.Retryable(err)
}

func (c *call) output(resp *stdhttp.Response, body []byte, limit int) string {
	if limit <= 0 {
		limit = defaultOutputLimit
	}
	text := exec.Redact(string(body), c.secrets)
	out := fmt.Sprintf("HTTP %s", resp.Status)
	if len(text) > limit {
		more := "bytes"
		if len(body) > maxBody {
			more = "bytes or more"
		}
		text = strings.ToValidUTF8(text[:limit], "") + fmt.Sprintf("\n[... %d %s truncated ...]", len(text)-limit, more)
	}
	if text != "" {
		out += "\n" + text
	}
	return out
}

func (c *call) check(resp *stdhttp.Response, body []byte) error {
	if !StatusOK(resp.StatusCode, c.spec.codes) {
		err := c.redacted(fmt.Errorf("%s %s: unexpected status %s (want %s)", c.spec.method, c.spec.URL, resp.Status, WantCodes(c.spec.codes)))
		if resp.StatusCode == stdhttp.StatusTooManyRequests || resp.StatusCode >= 500 {
			return exec.Retryable(err)
		}
		return err
	}
	e := c.spec.ExpectJSON
	if e == nil {
		return nil
	}
	if len(body) > maxBody {
		return fmt.Errorf("expect_json: response larger than %d bytes", maxBody)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return fmt.Errorf("expect_json: response is not JSON: %w", err)
	}
	v, ok := lookup(doc, c.spec.path)
	if !ok {
		return fmt.Errorf("expect_json: %s not found in the response", e.Path)
	}
	if !matches(v, *e.Equals) {
		return c.redacted(fmt.Errorf("expect_json: %s is %q, want %q", e.Path, render(v), *e.Equals))
	}
	return nil
}

// StatusOK reports whether code is one of want (any 2xx when want is empty).
func StatusOK(code int, want []int) bool {
	if len(want) == 0 {
		return code >= 200 && code < 300
	}
	for _, w := range want {
		if code == w {
			return true
		}
	}
	return false
}

// WantCodes says which codes are expected, for messages.
func WantCodes(codes []int) string {
	if len(codes) == 0 {
		return "2xx"
	}
	s := make([]string, len(codes))
	for i, c := range codes {
		s[i] = strconv.Itoa(c)
	}
	return strings.Join(s, " or ")
}

// redactedError scrubs secrets from a message but keeps the chain, so
// errors.Is still sees context errors underneath.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

func (c *call) redacted(err error) error {
	return &redactedError{msg: exec.Redact(err.Error(), c.secrets), err: err}
}
