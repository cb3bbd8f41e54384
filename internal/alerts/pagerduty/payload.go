// Package pagerduty receives PagerDuty v3 webhooks: POST /webhooks/pagerduty.
package pagerduty

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"strings"
	"sync"
	"time"

	"github.com/backout/backout/internal/alerts"
)

// Envelope is the body of a v3 webhook delivery.
type Envelope struct {
	Event Event `json:"event"`
}

// Event is one v3 webhook event.
type Event struct {
	ID           string     `json:"id"`
	EventType    string     `json:"event_type"`    // e.g. incident.triggered
	ResourceType string     `json:"resource_type"` // incident, service, ...
	OccurredAt   time.Time  `json:"occurred_at"`
	Agent        *Reference `json:"agent"`  // who or what caused it; null for the system
	Client       *Client    `json:"client"` // the integration that caused it, if any
	// Data is the incident for incident.* events. Other resource types
	// decode into it harmlessly and are ignored by the Processor.
	Data Incident `json:"data"`
}

// Client names the integration behind an event.
type Client struct {
	Name string `json:"name"`
}

// Reference is PagerDuty's short form of another object.
type Reference struct {
	ID      string `json:"id"`
	Type    string `json:"type"`
	Summary string `json:"summary"`
	Self    string `json:"self"`
	HTMLURL string `json:"html_url"`
}

// Incident is the data of incident.* events.
type Incident struct {
	ID               string      `json:"id"`
	Type             string      `json:"type"`
	Self             string      `json:"self"`
	HTMLURL          string      `json:"html_url"`
	Number           int64       `json:"number"`
	Status           string      `json:"status"`
	IncidentKey      string      `json:"incident_key"`
	CreatedAt        time.Time   `json:"created_at"`
	Title            string      `json:"title"`
	Service          Reference   `json:"service"`
	Assignees        []Reference `json:"assignees"`
	EscalationPolicy Reference   `json:"escalation_policy"`
	Teams            []Reference `json:"teams"`
	Priority         *Reference  `json:"priority"` // null when priorities are off
	Urgency          string      `json:"urgency"`  // high | low
	// ResolveReason is null or an object naming what resolved the incident.
	ResolveReason json.RawMessage `json:"resolve_reason"`
}

// Event types the Processor acts on.
const (
	EventTriggered       = "incident.triggered"
	EventEscalated       = "incident.escalated"
	EventPriorityUpdated = "incident.priority_updated"
	EventAcknowledged    = "incident.acknowledged"
	EventResolved        = "incident.resolved"
)

// Decode parses a v3 body and checks the fields intake relies on.
func Decode(body []byte) (*Envelope, error) {
	var env Envelope
	if err := alerts.DecodeBody(body, &env, "PagerDuty v3 webhook", "event"); err != nil {
		return nil, err
	}
	return check(&env)
}

// check refuses an envelope without the fields intake relies on.
func check(env *Envelope) (*Envelope, error) {
	switch {
	case env.Event.ID == "":
		return nil, errors.New("not a PagerDuty v3 webhook: event.id is missing")
	case env.Event.EventType == "":
		return nil, errors.New("not a PagerDuty v3 webhook: event.event_type is missing")
	case strings.HasPrefix(env.Event.EventType, "incident.") && env.Event.Data.ID == "":
		return nil, fmt.Errorf("PagerDuty %s event has no event.data.id", env.Event.EventType)
	}
	return env, nil
}

// SignatureHeader carries the HMAC of the body.
const SignatureHeader = "X-PagerDuty-Signature"

// Verify reports whether header (one or more comma-separated "v1=<hex>"
// values; PagerDuty sends several while a subscription's secret rotates)
// holds the HMAC-SHA256 of body under any of secrets.
func Verify(body []byte, header string, secrets []string) bool {
	macs := make([]*macPool, len(secrets))
	for i, s := range secrets {
		macs[i] = newMacPool(s)
	}
	return verify(body, header, macs)
}

// macPool reuses HMAC states keyed with one secret: building one hashes
// the key, two allocations per secret per delivery otherwise.
type macPool struct{ pool sync.Pool }

func newMacPool(secret string) *macPool {
	key := []byte(secret)
	return &macPool{pool: sync.Pool{New: func() any { return hmac.New(sha256.New, key) }}}
}

func (p *macPool) sum(body []byte, out *[sha256.Size]byte) {
	mac := p.pool.Get().(hash.Hash)
	mac.Reset()
	mac.Write(body)
	mac.Sum(out[:0])
	p.pool.Put(mac)
}

func verify(body []byte, header string, macs []*macPool) bool {
	var room [4][sha256.Size]byte // PagerDuty sends one v1 value per secret, two while one rotates
	sigs := room[:0]
	for part := range strings.SplitSeq(header, ",") {
		hexSig, ok := strings.CutPrefix(strings.TrimSpace(part), "v1=")
		if !ok || len(hexSig) != 2*sha256.Size {
			continue // other schemes may appear later; v1 is the only one defined
		}
		var sig [sha256.Size]byte
		if _, err := hex.Decode(sig[:], []byte(hexSig)); err == nil {
			sigs = append(sigs, sig)
		}
	}
	matched := false
	var want [sha256.Size]byte
	for _, mac := range macs {
		mac.sum(body, &want)
		for i := range sigs {
			// No early return: the time taken does not tell which matched.
			if hmac.Equal(want[:], sigs[i][:]) {
				matched = true
			}
		}
	}
	return matched
}

// Sign returns the header value PagerDuty would send for body under secret.
func Sign(body []byte, secret string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "v1=" + hex.EncodeToString(mac.Sum(nil))
}

// SplitSecrets splits PAGERDUTY_WEBHOOK_SECRET, which holds one secret or
// several separated by commas during rotation.
func SplitSecrets(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
