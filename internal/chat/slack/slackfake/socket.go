package slackfake

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// socketState is the fake's side of one Socket Mode connection.
type socketState struct {
	upgrader websocket.Upgrader

	mu      sync.Mutex
	conn    *websocket.Conn
	writeMu sync.Mutex // gorilla connections allow one writer at a time
	seq     int
	acks    map[string]json.RawMessage // envelope id -> ack payload
	changed chan struct{}
	done    chan struct{}
}

// pingEvery keeps slack-go's dead-connection detector (30 s) satisfied.
const pingEvery = 5 * time.Second

func (s *Server) serveSocket(w http.ResponseWriter, r *http.Request) {
	conn, err := s.sock.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	st := s.sock
	st.mu.Lock()
	if st.conn != nil {
		st.conn.Close()
	}
	st.conn = conn
	st.done = make(chan struct{})
	done := st.done
	st.notifyLocked()
	st.mu.Unlock()

	hello := map[string]any{"type": "hello", "num_connections": 1,
		"connection_info": map[string]any{"app_id": "AFAKE"},
		"debug_info":      map[string]any{"host": "slackfake"}}
	if err := st.write(conn, hello); err != nil {
		return
	}
	go st.read(conn, done)
	go st.ping(conn, done)
}

func (st *socketState) notifyLocked() {
	if st.changed != nil {
		close(st.changed)
	}
	st.changed = make(chan struct{})
}

func (st *socketState) write(conn *websocket.Conn, v any) error {
	st.writeMu.Lock()
	defer st.writeMu.Unlock()
	return conn.WriteJSON(v)
}

// read records acknowledgements until the connection ends.
func (st *socketState) read(conn *websocket.Conn, done chan struct{}) {
	defer close(done)
	for {
		var ack struct {
			EnvelopeID string          `json:"envelope_id"`
			Payload    json.RawMessage `json:"payload"`
		}
		if err := conn.ReadJSON(&ack); err != nil {
			st.mu.Lock()
			if st.conn == conn {
				st.conn = nil
			}
			st.notifyLocked()
			st.mu.Unlock()
			return
		}
		st.mu.Lock()
		if ack.Payload == nil {
			ack.Payload = json.RawMessage("null")
		}
		st.acks[ack.EnvelopeID] = ack.Payload
		st.notifyLocked()
		st.mu.Unlock()
	}
}

func (st *socketState) ping(conn *websocket.Conn, done chan struct{}) {
	t := time.NewTicker(pingEvery)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			st.writeMu.Lock()
			err := conn.WriteControl(websocket.PingMessage, []byte("ping"), time.Now().Add(time.Second))
			st.writeMu.Unlock()
			if err != nil {
				return
			}
		}
	}
}

func (s *Server) closeSocket() {
	st := s.sock
	st.mu.Lock()
	conn, done := st.conn, st.done
	st.conn = nil
	st.mu.Unlock()
	if conn != nil {
		conn.Close()
		<-done
	}
}

// WaitSocket waits until a Socket Mode client is connected. It sends the
// first ping right away, as Slack does, so the client's liveness check is
// armed.
func (s *Server) WaitSocket(ctx context.Context) error {
	st := s.sock
	for {
		st.mu.Lock()
		conn := st.conn
		if st.changed == nil {
			st.notifyLocked()
		}
		ch := st.changed
		st.mu.Unlock()
		if conn != nil {
			st.writeMu.Lock()
			err := conn.WriteControl(websocket.PingMessage, []byte("ping"), time.Now().Add(time.Second))
			st.writeMu.Unlock()
			return err
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("slackfake: waiting for socket mode client: %w", ctx.Err())
		}
	}
}

// SendEnvelope delivers a Socket Mode envelope of type typ
// ("slash_commands", "interactive", "events_api") with a raw JSON payload,
// and returns its envelope ID.
func (s *Server) SendEnvelope(typ string, payload json.RawMessage) (string, error) {
	st := s.sock
	st.mu.Lock()
	conn := st.conn
	st.seq++
	id := fmt.Sprintf("env-%06d", st.seq)
	st.mu.Unlock()
	if conn == nil {
		return "", errors.New("slackfake: no socket mode client connected")
	}
	env := map[string]any{"envelope_id": id, "type": typ, "payload": payload,
		"accepts_response_payload": typ != "events_api", "retry_attempt": 0, "retry_reason": ""}
	if err := st.write(conn, env); err != nil {
		return "", fmt.Errorf("slackfake: sending envelope: %w", err)
	}
	return id, nil
}

// WaitAck waits for the client to acknowledge an envelope and returns the
// ack's payload ("null" when it carried none).
func (s *Server) WaitAck(ctx context.Context, envelopeID string) (json.RawMessage, error) {
	st := s.sock
	for {
		st.mu.Lock()
		p, ok := st.acks[envelopeID]
		if st.changed == nil {
			st.notifyLocked()
		}
		ch := st.changed
		st.mu.Unlock()
		if ok {
			return p, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, fmt.Errorf("slackfake: waiting for ack of %s: %w", envelopeID, ctx.Err())
		}
	}
}
