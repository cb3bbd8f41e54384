// Package pagerduty receives PagerDuty v3 webhooks: POST /webhooks/pagerduty.
package pagerduty

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
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
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&env); err != nil {
		return nil, fmt.Errorf("malformed PagerDuty v3 webhook JSON: %w", err)
	}
	if dec.More() {
		return nil, errors.New("malformed PagerDuty v3 webhook JSON: data after the event object")
	}
	switch {
	case env.Event.ID == "":
		return nil, errors.New("not a PagerDuty v3 webhook: event.id is missing")
	case env.Event.EventType == "":
		return nil, errors.New("not a PagerDuty v3 webhook: event.event_type is missing")
	case strings.HasPrefix(env.Event.EventType, "incident.") && env.Event.Data.ID == "":
		return nil, fmt.Errorf("PagerDuty %s event has no event.data.id", env.Event.EventType)
	}
	return &env, nil
}

// SignatureHeader carries the HMAC of the body.
const SignatureHeader = "X-PagerDuty-Signature"

// Verify reports whether header (one or more comma-separated "v1=<hex>"
// values; PagerDuty sends several while a subscription's secret rotates)
// holds the HMAC-SHA256 of body under any of secrets.
func Verify(body []byte, header string, secrets []string) bool {
	var sigs [][]byte
	for _, part := range strings.Split(header, ",") {
		hexSig, ok := strings.CutPrefix(strings.TrimSpace(part), "v1=")
		if !ok {
			continue // other schemes may appear later; v1 is the only one defined
		}
		if sig, err := hex.DecodeString(hexSig); err == nil && len(sig) == sha256.Size {
			sigs = append(sigs, sig)
		}
	}
	matched := false
	for _, secret := range secrets {
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write(body)
		want := mac.Sum(nil)
		for _, sig := range sigs {
			// No early return: the time taken does not tell which matched.
			if hmac.Equal(want, sig) {
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
