// Package pagerduty is Backout's PagerDuty REST and Events API v2 client:
// incident notes, acknowledge and resolve, on-call lookup, and paging. It
// implements incident.Pager on top of github.com/PagerDuty/go-pagerduty.
package pagerduty

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"time"

	pd "github.com/PagerDuty/go-pagerduty"

	"github.com/backout/backout/internal/config"
	"github.com/backout/backout/internal/incident"
)

// Options configures a Client. Token and FromEmail are required.
type Options struct {
	APIURL    string // REST API base, e.g. https://api.pagerduty.com
	EventsURL string // Events API base, e.g. https://events.pagerduty.com
	// FromEmail is the PagerDuty user every write is made as (the From header).
	FromEmail string
	Token     string // REST API token
	// RoutingKey is the Events API v2 integration key; empty disables Page.
	RoutingKey string
	// HTTPClient carries the calls; its Transport is wrapped with retries
	// (default: a client with a 10s timeout per attempt).
	HTTPClient *http.Client
	Retry      RetryPolicy
	// OnRetry is told the status of each retried response (for metrics).
	OnRetry func(status int)
	Logger  *slog.Logger
}

// OptionsFromConfig reads the settings, the token and the routing key (from
// the environment variable pagerduty.routing_key_env names, via getenv).
func OptionsFromConfig(c config.PagerDutyConfig, s config.Secrets, getenv func(string) string) (Options, error) {
	o := Options{APIURL: c.APIURL, EventsURL: c.EventsURL, FromEmail: c.FromEmail, Token: s.PagerDutyToken.Reveal()}
	if c.RoutingKeyEnv != "" {
		if o.RoutingKey = getenv(c.RoutingKeyEnv); o.RoutingKey == "" {
			return o, fmt.Errorf("pagerduty.routing_key_env names %s, but it is not set", c.RoutingKeyEnv)
		}
	}
	return o, nil
}

// Client implements incident.Pager.
type Client struct {
	api        *pd.Client
	from       string
	routingKey string
	log        *slog.Logger
}

var _ incident.Pager = (*Client)(nil)

// New builds a client.
func New(o Options) (*Client, error) {
	switch {
	case o.Token == "":
		return nil, errors.New("pagerduty: PAGERDUTY_TOKEN is not set")
	case o.FromEmail == "":
		return nil, errors.New("pagerduty: pagerduty.from_email is required: PagerDuty refuses writes without a From user")
	}
	if o.APIURL == "" {
		o.APIURL = "https://api.pagerduty.com"
	}
	if o.EventsURL == "" {
		o.EventsURL = "https://events.pagerduty.com"
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	hc := &http.Client{Timeout: 10 * time.Second}
	if o.HTTPClient != nil {
		cp := *o.HTTPClient
		hc = &cp
	}
	base := hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	apiURL := strings.TrimRight(o.APIURL, "/")
	hc.Transport = &transport{base: base, policy: o.Retry.withDefaults(), apiURL: apiURL + "/", from: o.FromEmail, onRetry: o.OnRetry}
	api := pd.NewClient(o.Token, pd.WithAPIEndpoint(apiURL), pd.WithV2EventsAPIEndpoint(strings.TrimRight(o.EventsURL, "/")))
	api.HTTPClient = hc
	return &Client{api: api, from: o.FromEmail, routingKey: o.RoutingKey, log: o.Logger}, nil
}

// Note adds a note to an incident.
func (c *Client) Note(ctx context.Context, incidentID, text string) error {
	note := pd.IncidentNote{Content: text, User: pd.APIObject{Summary: c.from}} // go-pagerduty sends User.Summary as From
	if _, err := c.api.CreateIncidentNoteWithContext(ctx, incidentID, note); err != nil {
		return fmt.Errorf("pagerduty: add note to incident %s: %w", incidentID, err)
	}
	return nil
}

// Acknowledge marks an incident acknowledged.
func (c *Client) Acknowledge(ctx context.Context, incidentID string) error {
	return c.setStatus(ctx, incidentID, "acknowledged")
}

// Resolve marks an incident resolved.
func (c *Client) Resolve(ctx context.Context, incidentID string) error {
	return c.setStatus(ctx, incidentID, "resolved")
}

func (c *Client) setStatus(ctx context.Context, incidentID, status string) error {
	_, err := c.api.ManageIncidentsWithContext(ctx, c.from, []pd.ManageIncidentsOptions{{ID: incidentID, Status: status}})
	if err != nil {
		return fmt.Errorf("pagerduty: mark incident %s %s: %w", incidentID, status, err)
	}
	return nil
}

// OnCall lists who is on call for a PagerDuty service through its
// escalation policy, first level first, each person once.
func (c *Client) OnCall(ctx context.Context, serviceID string) ([]incident.Person, error) {
	svc, err := c.api.GetServiceWithContext(ctx, serviceID, &pd.GetServiceOptions{})
	if err != nil {
		return nil, fmt.Errorf("pagerduty: get service %s: %w", serviceID, err)
	}
	policy := svc.EscalationPolicy.ID
	if policy == "" {
		return nil, fmt.Errorf("pagerduty: service %s has no escalation policy", serviceID)
	}
	resp, err := c.api.ListOnCallsWithContext(ctx, pd.ListOnCallOptions{
		EscalationPolicyIDs: []string{policy}, Includes: []string{"users"}, Limit: 100})
	if err != nil {
		return nil, fmt.Errorf("pagerduty: on-calls for escalation policy %s: %w", policy, err)
	}
	oncalls := resp.OnCalls
	sort.SliceStable(oncalls, func(i, j int) bool { return oncalls[i].EscalationLevel < oncalls[j].EscalationLevel })
	seen := map[string]bool{}
	var out []incident.Person
	for _, oc := range oncalls {
		u := oc.User
		if u.ID == "" || seen[u.ID] {
			continue
		}
		seen[u.ID] = true
		name := u.Name
		if name == "" {
			name = u.Summary // without include[]=users only the reference comes back
		}
		out = append(out, incident.Person{Name: name, Email: u.Email})
	}
	return out, nil
}

var severities = map[string]bool{"critical": true, "error": true, "warning": true, "info": true}

// Page raises an Events API v2 alert. Without a routing key it does
// nothing: paging is optional (pagerduty.routing_key_env).
func (c *Client) Page(ctx context.Context, dedupKey, summary, severity string, details map[string]string) error {
	if c.routingKey == "" {
		c.log.Info("pagerduty: not paging, pagerduty.routing_key_env is not set", "dedup_key", dedupKey, "summary", summary)
		return nil
	}
	severity = strings.ToLower(severity)
	if !severities[severity] {
		severity = "error" // the Events API refuses anything else
	}
	if len(summary) > 1024 {
		summary = strings.ToValidUTF8(summary[:1021], "") + "..." // the Events API limit
	}
	ev := &pd.V2Event{RoutingKey: c.routingKey, Action: "trigger", DedupKey: dedupKey,
		Payload: &pd.V2Payload{Summary: summary, Source: "backout", Severity: severity, Details: details}}
	if _, err := c.api.ManageEventWithContext(ctx, ev); err != nil {
		return fmt.Errorf("pagerduty: page %q: %w", dedupKey, err)
	}
	return nil
}
