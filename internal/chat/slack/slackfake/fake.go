// Package slackfake is a fake Slack Web API (and Socket Mode endpoint) for
// tests. It speaks Slack's wire format: form-encoded or JSON requests,
// {"ok":...} answers, 429 with Retry-After; it checks tokens the way Slack
// does and records every call for assertions. It also signs and encodes
// inbound requests (slash commands, interactions, events) exactly as Slack
// sends them.
package slackfake

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"

	"github.com/gorilla/websocket"
)

// Tokens the fake accepts.
const (
	BotToken = "xoxb-fake-bot-token"
	AppToken = "xapp-fake-app-token"
	TeamID   = "T0FAKE"
	BotUser  = "UBOT"
)

// Call is one request the fake received.
type Call struct {
	// Method is the Web API method ("chat.postMessage"), or "upload" for a
	// file sent to an upload URL.
	Method string
	// Form holds form-encoded parameters (the token removed).
	Form url.Values
	// JSON holds a JSON body's top-level fields.
	JSON map[string]any
	// Body is the raw body (the file content, for uploads).
	Body []byte
	// Token is the token presented, by header or form field.
	Token string
	// Status and Error are what the fake answered (Error "" means ok).
	Status int
	Error  string
}

// Param is a parameter by name, from the form or the JSON body (non-string
// JSON values are returned encoded).
func (c Call) Param(name string) string {
	if v, ok := c.Form[name]; ok && len(v) > 0 {
		return v[0]
	}
	v, ok := c.JSON[name]
	if !ok {
		return ""
	}
	if s, ok := v.(string); ok {
		return s
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// Decode unmarshals the JSON-encoded parameter name into v.
func (c Call) Decode(name string, v any) error {
	p := c.Param(name)
	if p == "" {
		return fmt.Errorf("slackfake: %s has no parameter %q", c.Method, name)
	}
	return json.Unmarshal([]byte(p), v)
}

// Message is the fake's record of a posted message.
type Message struct {
	Channel, TS, Thread, Text string
	Blocks                    json.RawMessage
	Updates                   int
}

type fault struct {
	n          int
	status     int // HTTP status, or 0 for a Slack error
	retryAfter int
	slackErr   string
}

// Server is the fake. Create it with New and Close it when done.
type Server struct {
	srv *httptest.Server

	mu       sync.Mutex
	calls    []Call
	changed  chan struct{}
	faults   map[string][]*fault
	seq      int
	messages map[string]*Message // channel/ts
	groups   map[string][]string
	users    map[string]string // id -> name
	emails   map[string]string // id -> email
	files    map[string]*file
	views    map[string]map[string]any
	viewIDs  []string
	sock     *socketState
}

type file struct {
	name     string
	length   int
	content  []byte
	complete bool
}

// New starts a fake.
func New() *Server {
	s := &Server{
		changed:  make(chan struct{}),
		faults:   map[string][]*fault{},
		messages: map[string]*Message{},
		groups:   map[string][]string{},
		users:    map[string]string{},
		files:    map[string]*file{},
		views:    map[string]map[string]any{},
		sock: &socketState{
			// slack-go dials with Origin: https://api.slack.com, as Slack expects.
			upgrader: websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }},
			acks:     map[string]json.RawMessage{},
		},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/{method}", s.serveAPI)
	mux.HandleFunc("POST /upload/{file}", s.serveUpload)
	mux.HandleFunc("GET /socket", s.serveSocket)
	s.srv = httptest.NewServer(mux)
	return s
}

// Close stops the fake and drops any Socket Mode connection.
func (s *Server) Close() {
	s.closeSocket()
	s.srv.Close()
}

// URL is the fake's root URL.
func (s *Server) URL() string { return s.srv.URL }

// APIURL is the Web API base to configure clients with (ends in "/").
func (s *Server) APIURL() string { return s.srv.URL + "/api/" }

// Client is an HTTP client for the fake.
func (s *Server) Client() *http.Client { return s.srv.Client() }

// SetGroup makes a user group with these members.
func (s *Server) SetGroup(id string, members ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.groups[id] = append([]string(nil), members...)
}

// SetUser makes a user known to users.info.
func (s *Server) SetUser(id, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[id] = name
}

// SetEmail makes a user findable by users.lookupByEmail.
func (s *Server) SetEmail(id, email string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.emails == nil {
		s.emails = map[string]string{}
	}
	s.emails[id] = email
}

// RateLimit answers the next n calls of method with HTTP 429 and
// Retry-After: retryAfter (seconds).
func (s *Server) RateLimit(method string, n, retryAfter int) {
	s.addFault(method, &fault{n: n, status: http.StatusTooManyRequests, retryAfter: retryAfter})
}

// FailStatus answers the next n calls of method with an HTTP status (5xx).
func (s *Server) FailStatus(method string, n, status int) {
	s.addFault(method, &fault{n: n, status: status})
}

// FailError answers the next n calls of method with {"ok":false,"error":e}.
func (s *Server) FailError(method string, n int, e string) {
	s.addFault(method, &fault{n: n, slackErr: e})
}

func (s *Server) addFault(method string, f *fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[method] = append(s.faults[method], f)
}

// takeFault consumes one injected fault for method, if any.
func (s *Server) takeFaultLocked(method string) *fault {
	fs := s.faults[method]
	if len(fs) == 0 {
		return nil
	}
	f := *fs[0]
	if fs[0].n--; fs[0].n <= 0 {
		s.faults[method] = fs[1:]
	}
	return &f
}

// Calls returns recorded calls, of the given methods only when any are named.
func (s *Server) Calls(methods ...string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.calls {
		if len(methods) == 0 || contains(methods, c.Method) {
			out = append(out, c)
		}
	}
	return out
}

// WaitCalls waits until at least n calls of method were recorded.
func (s *Server) WaitCalls(ctx context.Context, method string, n int) ([]Call, error) {
	for {
		s.mu.Lock()
		ch := s.changed
		s.mu.Unlock()
		if calls := s.Calls(method); len(calls) >= n {
			return calls, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return s.Calls(method), fmt.Errorf("slackfake: waiting for %d %s calls: %w", n, method, ctx.Err())
		}
	}
}

// Message returns the current state of a posted message.
func (s *Server) Message(channel, ts string) (Message, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.messages[channel+"/"+ts]
	if !ok {
		return Message{}, false
	}
	return *m, true
}

// Messages returns the current state of the messages posted in a channel,
// oldest first (timestamps are zero-padded, so they sort as strings).
func (s *Server) Messages(channel string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Message
	for _, m := range s.messages {
		if m.Channel == channel {
			out = append(out, *m)
		}
	}
	slices.SortFunc(out, func(a, b Message) int { return strings.Compare(a.TS, b.TS) })
	return out
}

// Upload returns an uploaded file's name and content, by file ID.
func (s *Server) Upload(fileID string) (name string, content []byte, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.files[fileID]
	if !ok {
		return "", nil, false
	}
	return f.name, append([]byte(nil), f.content...), true
}

func (s *Server) recordLocked(c Call) {
	s.calls = append(s.calls, c)
	close(s.changed)
	s.changed = make(chan struct{})
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// bearer extracts the token from "Authorization: Bearer ..." or, as Slack
// also accepts for form posts, the token field.
func bearer(r *http.Request, form url.Values) string {
	if t, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		return t
	}
	return form.Get("token")
}
