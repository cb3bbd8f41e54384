package slack

import (
	"encoding/json"
	"errors"
	"net"
	"net/http"
)

// Commands serves POST /slack/commands.
func (a *Adapter) Commands() http.Handler {
	return a.endpoint(func(in inbound) (work, error) {
		c, err := parseCommandForm(in.body)
		if err != nil {
			return work{}, err
		}
		// A slash command carries no ID of its own; its signature does, so a
		// replayed request is caught by claiming the signature itself.
		key := "slack:cmd:" + in.header.Get(headerTimestamp) + ":" + in.header.Get(headerSignature)
		return a.commandWork(c, key, in.from), nil
	})
}

// Interactions serves POST /slack/interactions.
func (a *Adapter) Interactions() http.Handler {
	return a.endpoint(func(in inbound) (work, error) {
		p, err := parseInteractionForm(in.body)
		if err != nil {
			return work{}, err
		}
		return a.interactionWork(p, in.from), nil
	})
}

// Events serves POST /slack/events.
func (a *Adapter) Events() http.Handler {
	return a.endpoint(func(in inbound) (work, error) {
		e, err := parseEvent(in.body)
		if err != nil {
			return work{}, err
		}
		return a.eventWork(e, in.from), nil
	})
}

type inbound struct {
	header http.Header
	body   []byte
	from   string
}

// endpoint runs the steps every Slack request takes, in an order that
// matters: bound the body, verify the signature over the raw bytes (nothing
// before this may have an effect), decode, claim and queue, answer.
func (a *Adapter) endpoint(prepare func(inbound) (work, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		body, err := readBody(w, r, a.cfg.MaxBody)
		if errors.Is(err, errTooLarge) {
			http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
			return
		}
		if err != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		if err := verify(a.cfg.SigningSecret, r.Header, body, a.cfg.Now()); err != nil {
			a.log.Warn("slack: request refused", "path", r.URL.Path, "remote", r.RemoteAddr, "reason", err)
			http.Error(w, "invalid signature", http.StatusUnauthorized)
			return
		}
		wk, err := prepare(inbound{header: r.Header, body: body, from: hostOnly(r.RemoteAddr)})
		if err != nil {
			a.log.Warn("slack: undecodable request", "path", r.URL.Path, "err", err)
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		dups, err := a.accept(r.Context(), wk, false)
		if err != nil {
			a.refuse(w, r, wk, err)
			return
		}
		if wk.refuseReplay && len(wk.items) > 0 && dups == len(wk.items) && r.Header.Get("X-Slack-Retry-Num") == "" {
			// The same signed bytes again, and not Slack retrying: a replay.
			// It was already acted on once; say so rather than 200.
			a.log.Warn("slack: replayed request refused", "path", r.URL.Path, "remote", hostOnly(r.RemoteAddr))
			http.Error(w, "replayed request", http.StatusUnauthorized)
			return
		}
		writeAck(w, wk.ack)
	})
}

// refuse answers a request whose work could not be claimed or queued.
//
// The store failing (or hanging past claimTimeout) means nothing was
// claimed, so nothing runs: the command or click is acknowledged at once,
// inside Slack's 3 s, and the person reads why through response_url. Slack
// retries neither, and a claim that timed out yet landed later only burns
// a key no retry will use (a new command or click is signed anew), so this
// neither loses the request silently nor runs it twice. Without a
// response_url (events, modal submissions) the answer is 503, which Slack
// retries for events; a full queue is told "busy" the same ways.
func (a *Adapter) refuse(w http.ResponseWriter, r *http.Request, wk work, err error) {
	if !errors.Is(err, errQueueFull) && wk.responseURL != "" {
		qerr := a.tellUnavailable(wk.responseURL)
		if qerr == nil {
			a.log.Warn("slack: request refused; telling the user through response_url", "path", r.URL.Path, "err", err)
			w.WriteHeader(http.StatusOK)
			return
		}
		a.log.Warn("slack: cannot queue the store-unavailable answer; answering in the acknowledgement", "path", r.URL.Path, "err", qerr)
	}
	if wk.unavailable != nil { // a slash command: Slack will not retry it
		a.log.Warn("slack: command refused; told the user", "path", r.URL.Path, "err", err)
		if errors.Is(err, errQueueFull) {
			writeAck(w, ephemeralAck(busyText))
		} else {
			writeAck(w, wk.unavailable)
		}
		return
	}
	a.log.Warn("slack: request refused for retry", "path", r.URL.Path, "err", err)
	w.Header().Set("Retry-After", "1")
	http.Error(w, "try again", http.StatusServiceUnavailable)
}

func writeAck(w http.ResponseWriter, ack any) {
	if ack == nil {
		w.WriteHeader(http.StatusOK)
		return
	}
	body, err := json.Marshal(ack)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(body)
}

// hostOnly drops the client port: the audit trail records where from, and
// the port is noise.
func hostOnly(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return host
}
