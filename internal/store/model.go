package store

import (
	"time"
)

// AuditEvent is one append-only, hash-chained audit record.
type AuditEvent struct {
	Seq      int64             `json:"seq"`
	At       time.Time         `json:"at"`
	Actor    string            `json:"actor"`
	Action   string            `json:"action"`
	Target   string            `json:"target,omitempty"`
	From     string            `json:"from,omitempty"` // slack | console | api | pagerduty | alertmanager | engine | cron, plus address
	Detail   map[string]string `json:"detail,omitempty"`
	PrevHash string            `json:"prev_hash"`
	Hash     string            `json:"hash"`
}

// Event is an accepted inbound webhook awaiting processing.
type Event struct {
	ID         string    `json:"id"`
	Source     string    `json:"source"` // pagerduty | alertmanager | watcher
	Type       string    `json:"type"`
	Payload    []byte    `json:"payload"`
	ReceivedAt time.Time `json:"received_at"`
	// Parsed is the intake handler's decode of Payload, never stored: a
	// store that keeps accepted events in this process until the worker
	// takes them (bolt's journal) hands it over, so the payload is parsed
	// once. It is nil from Redis, after a restart, and in bolt's inbox; a
	// processor then decodes Payload itself.
	Parsed any `json:"-"`
}

// Lease is the right to drive a rollback, with a fencing token.
type Lease struct {
	Name    string    `json:"name"`
	Holder  string    `json:"holder"`
	Token   int64     `json:"token"`
	Expires time.Time `json:"expires"`
	// Grace is what the holder gave when it took the lease (its
	// engine.kill_grace): another holder waits at least this long past
	// Expires, since the holder's step processes may live that long.
	Grace time.Duration `json:"grace,omitempty"`
}
