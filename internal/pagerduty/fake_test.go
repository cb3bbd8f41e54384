package pagerduty_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// call is one request the fake PagerDuty saw.
type call struct {
	Method, Path, Query, Auth, From string
	Body                            map[string]any
}

// fakePD is a local PagerDuty REST and Events API: it checks the token and
// the From header, records calls, and can be scripted to fail a path's
// first requests.
type fakePD struct {
	t     *testing.T
	token string
	from  string
	srv   *httptest.Server

	mu     sync.Mutex
	calls  []call
	script map[string][]failure // path -> failures to answer first
}

type failure struct {
	status     int
	retryAfter string
}

func newFakePD(t *testing.T) *fakePD {
	f := &fakePD{t: t, token: "u+tok3n", from: "backout-bot@example.com", script: map[string][]failure{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakePD) failFirst(path string, fs ...failure) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.script[path] = append(f.script[path], fs...)
}

func (f *fakePD) Calls() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]call(nil), f.calls...)
}

func reply(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

func (f *fakePD) serve(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	c := call{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Auth: r.Header.Get("Authorization"), From: r.Header.Get("From")}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &c.Body); err != nil {
			f.t.Errorf("%s %s: body is not JSON: %q", r.Method, r.URL.Path, raw)
		}
	}
	f.mu.Lock()
	f.calls = append(f.calls, c)
	var fail *failure
	if q := f.script[r.URL.Path]; len(q) > 0 {
		fail, f.script[r.URL.Path] = &q[0], q[1:]
	}
	f.mu.Unlock()

	if fail != nil {
		if fail.retryAfter != "" {
			w.Header().Set("Retry-After", fail.retryAfter)
		}
		reply(w, fail.status, fmt.Sprintf(`{"error":{"message":"scripted %d","code":2001}}`, fail.status))
		return
	}
	if r.URL.Path == "/v2/enqueue" { // Events API: the routing key authenticates
		reply(w, http.StatusAccepted, `{"status":"success","message":"Event processed","dedup_key":"k"}`)
		return
	}
	if c.Auth != "Token token="+f.token {
		reply(w, http.StatusUnauthorized, `{"error":{"message":"Unauthorized","code":2006}}`)
		return
	}
	if r.Method != http.MethodGet && c.From != f.from {
		reply(w, http.StatusBadRequest, `{"error":{"message":"You must specify a user's email address in the \"From\" header","code":2001}}`)
		return
	}
	f.route(w, r)
}

func (f *fakePD) route(w http.ResponseWriter, r *http.Request) {
	switch p := r.URL.Path; {
	case r.Method == http.MethodPost && strings.HasPrefix(p, "/incidents/") && strings.HasSuffix(p, "/notes"):
		reply(w, http.StatusCreated, `{"note":{"id":"PWL7QXS","content":"ok"}}`)
	case r.Method == http.MethodPut && p == "/incidents":
		reply(w, http.StatusOK, `{"incidents":[{"id":"Q1","type":"incident"}]}`)
	case r.Method == http.MethodGet && p == "/services/PSVC1":
		reply(w, http.StatusOK, `{"service":{"id":"PSVC1","type":"service","name":"Checkout API",
			"escalation_policy":{"id":"PEP1","type":"escalation_policy_reference","summary":"Checkout"}}}`)
	case r.Method == http.MethodGet && p == "/services/PNOEP":
		reply(w, http.StatusOK, `{"service":{"id":"PNOEP","type":"service","name":"Orphan"}}`)
	case r.Method == http.MethodGet && p == "/oncalls":
		// Level 2 first and one person twice, as the API may answer.
		reply(w, http.StatusOK, `{"oncalls":[
			{"escalation_level":2,"user":{"id":"PU2","type":"user","summary":"Kelvin Mullins","name":"Kelvin Mullins","email":"kelvin@example.com"}},
			{"escalation_level":1,"user":{"id":"PU1","type":"user","summary":"Earline Greenholt","name":"Earline Greenholt","email":"earline@example.com"}},
			{"escalation_level":3,"user":{"id":"PU1","type":"user","summary":"Earline Greenholt","name":"Earline Greenholt","email":"earline@example.com"}},
			{"escalation_level":3,"user":{"id":"PU3","type":"user_reference","summary":"Ref Only"}}
		],"limit":100,"offset":0,"more":false}`)
	default:
		reply(w, http.StatusNotFound, `{"error":{"message":"Not Found","code":2100}}`)
	}
}
