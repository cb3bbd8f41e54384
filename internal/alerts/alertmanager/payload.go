// Package alertmanager receives Prometheus Alertmanager webhooks:
// POST /webhooks/alertmanager (webhook_config, payload version 4).
package alertmanager

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/backout/backout/internal/alerts"
)

// Message is a version 4 webhook body.
type Message struct {
	Version           string            `json:"version"`
	GroupKey          string            `json:"groupKey"`
	TruncatedAlerts   int               `json:"truncatedAlerts"`
	Status            string            `json:"status"` // firing | resolved
	Receiver          string            `json:"receiver"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	ExternalURL       string            `json:"externalURL"`
	Alerts            []Alert           `json:"alerts"`
}

// Alert is one alert of a group.
type Alert struct {
	Status       string            `json:"status"` // firing | resolved
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"` // 0001-01-01 while firing without an end
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
}

// Statuses.
const (
	StatusFiring   = "firing"
	StatusResolved = "resolved"
)

func validStatus(s string) bool { return s == StatusFiring || s == StatusResolved }

// Decode parses a version 4 body and checks what intake relies on.
func Decode(body []byte) (*Message, error) {
	var m Message
	if err := alerts.DecodeBody(body, &m, "Alertmanager webhook", "message"); err != nil {
		return nil, err
	}
	return check(&m)
}

// check refuses a message without what intake relies on.
func check(m *Message) (*Message, error) {
	switch {
	case m.Version != "4":
		return nil, fmt.Errorf("unsupported Alertmanager webhook version %q (want \"4\")", m.Version)
	case m.GroupKey == "":
		return nil, errors.New("not an Alertmanager webhook: groupKey is missing")
	case !validStatus(m.Status):
		return nil, fmt.Errorf("webhook status %q is neither firing nor resolved", m.Status)
	case len(m.Alerts) == 0:
		return nil, errors.New("webhook has no alerts")
	}
	for i, a := range m.Alerts {
		if !validStatus(a.Status) {
			return nil, fmt.Errorf("webhook alerts[%d]: status %q is neither firing nor resolved", i, a.Status)
		}
	}
	return m, nil
}

// DedupKey identifies a notification's content. Alertmanager repeats a
// group unchanged every repeat_interval and from every cluster peer; those
// repeats share the key. It covers the group, its status and each alert's
// identity, status and start, so an alert that resolves and fires again
// (new startsAt) or one that resolves within the group is new.
func DedupKey(m *Message) string {
	parts := make([]string, len(m.Alerts))
	for i, a := range m.Alerts {
		parts[i] = fingerprint(a) + "/" + a.Status + "/" + a.StartsAt.UTC().Format(time.RFC3339Nano)
	}
	sort.Strings(parts)
	h := sha256.New()
	for _, s := range append([]string{m.GroupKey, m.Status}, parts...) {
		h.Write([]byte(s))
		h.Write([]byte{0}) // separator no field can contain unescaped in JSON text
	}
	return hex.EncodeToString(h.Sum(nil))
}

// fingerprint is Alertmanager's, or (from senders that omit it) a hash of
// the sorted label set, which is what Alertmanager's is computed from.
func fingerprint(a Alert) string {
	if a.Fingerprint != "" {
		return a.Fingerprint
	}
	names := make([]string, 0, len(a.Labels))
	for k := range a.Labels {
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, k := range names {
		b.WriteString(k + "\x00" + a.Labels[k] + "\x00")
	}
	sum := sha256.Sum256([]byte(b.String()))
	return "labels:" + hex.EncodeToString(sum[:8])
}
