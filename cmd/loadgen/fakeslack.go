package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"
)

// fakeSlackAnswer satisfies every Web API method the bot calls under load
// (auth.test for readiness, chat.postMessage/postEphemeral/update for
// replies) and response_url posts. It keeps nothing, unlike slackfake,
// whose call log would grow for the whole run and skew memory and time.
const fakeSlackAnswer = `{"ok":true,"url":"https://fake.slack.com/","team":"fake","user":"backout","team_id":"TFAKE",` +
	`"user_id":"UBOT","bot_id":"BFAKE","channel":"C0LOAD","ts":"1700000000.000200","message_ts":"1700000000.000200"}`

// fakeSlack is a Slack Web API stand-in that answers at once.
type fakeSlack struct {
	srv   *http.Server
	ln    net.Listener
	calls atomic.Int64
}

func startFakeSlack(addr string) (*fakeSlack, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("fake slack: %w", err)
	}
	f := &fakeSlack{ln: ln}
	f.srv = &http.Server{Handler: http.HandlerFunc(f.serve), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := f.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintf(os.Stderr, "fake slack stopped: %v\n", err)
		}
	}()
	return f, nil
}

func (f *fakeSlack) serve(w http.ResponseWriter, r *http.Request) {
	f.calls.Add(1)
	_, _ = io.Copy(io.Discard, r.Body)
	if strings.HasPrefix(r.URL.Path, "/response") {
		w.WriteHeader(http.StatusOK) // response_url answers with a bare 200
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, fakeSlackAnswer)
}

// APIURL is what bot.yaml's slack.api_url should say.
func (f *fakeSlack) APIURL() string { return "http://" + f.ln.Addr().String() + "/api/" }

// ResponseURL is where slash command replies are posted.
func (f *fakeSlack) ResponseURL() string { return "http://" + f.ln.Addr().String() + "/response" }

func (f *fakeSlack) Close(ctx context.Context) error { return f.srv.Shutdown(ctx) }

// bareServer is the floor to compare against: a net/http handler that
// reads the body and answers 202, on a free loopback port.
type bareServer struct {
	srv *http.Server
	ln  net.Listener
}

func startBare() (*bareServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("bare handler: %w", err)
	}
	b := &bareServer{ln: ln, srv: &http.Server{ReadHeaderTimeout: 5 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.WriteHeader(http.StatusAccepted)
		})}}
	go func() { _ = b.srv.Serve(ln) }()
	return b, nil
}

func (b *bareServer) URL() string { return "http://" + b.ln.Addr().String() }

func (b *bareServer) Close(ctx context.Context) error { return b.srv.Shutdown(ctx) }
