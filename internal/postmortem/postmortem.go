// Package postmortem writes a pre-filled, blameless post-mortem draft when a
// rollback ends: it renders the runbook's template (or the default one),
// keeps it in the store, posts it in the thread as a file, and optionally
// sends it to a webhook that creates the document elsewhere.
package postmortem

import (
	"bytes"
	"cmp"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"text/template"
	"time"

	"github.com/backout/backout/internal/chat"
	"github.com/backout/backout/internal/human"
	"github.com/backout/backout/internal/incident"
	"github.com/backout/backout/internal/present"
	"github.com/backout/backout/internal/rollback"
	"github.com/backout/backout/internal/runbook"
	"github.com/backout/backout/internal/store"
)

//go:embed default.md.tmpl
var defaultTemplate string

// BlobKind is where post-mortems are kept in the store.
const BlobKind = "postmortem"

// Data is what a post-mortem template sees.
type Data struct {
	Rollback       *rollback.Record
	Kind           string
	Services       string
	Runbooks       string
	Trigger        string
	Timeline       []Event
	Phases         []Phase
	Steps          []StepSummary
	RecoveryTarget string
	MaxDataLoss    string
	TargetVerdict  string
	// Support says what the support channel reported after the rollback.
	Support string
	// Charts are the metric checks' charts, by the file name they are
	// uploaded under and written beside the post-mortem (a relative link).
	Charts []ChartRef
}

// ChartRef is one chart a post-mortem embeds.
type ChartRef struct{ Title, File string }

// Event is one line of the timeline.
type Event struct{ At, Text string }

// Phase is a phase's duration, formatted.
type Phase struct{ Name, Duration string }

// StepSummary is the end state of one step.
type StepSummary struct {
	Key, Result, Duration, OutputTail string
	Attempts                          int
}

// Writer renders and delivers post-mortems.
type Writer struct {
	Store      store.Store
	Runbooks   runbook.Set
	Poster     chat.Poster
	WebhookURL string
	Client     *http.Client
	Log        *slog.Logger
}

// RollbackEnded implements incident.EndHook.
func (w *Writer) RollbackEnded(ctx context.Context, r *rollback.Record) {
	if r.State == rollback.StateRejected || r.State == rollback.StateExpired || r.State == rollback.StateStale {
		return // nothing ran: nothing to learn from the runbook
	}
	md, err := w.Render(ctx, r)
	if err != nil {
		w.Log.ErrorContext(ctx, "post-mortem render", "rollback", r.ID, "err", err)
		return
	}
	if err := w.Store.PutBlob(ctx, BlobKind, r.ID, []byte(md)); err != nil {
		w.Log.ErrorContext(ctx, "post-mortem store", "rollback", r.ID, "err", err)
	}
	name := fmt.Sprintf("postmortem-%s.md", r.ID)
	if err := w.Poster.Upload(ctx, chat.Ref{Channel: r.Channel, Thread: r.MessageTS}, name, "Post-mortem draft for "+r.ID, md); err != nil {
		w.Log.WarnContext(ctx, "post-mortem upload", "rollback", r.ID, "err", err)
	}
	if w.WebhookURL != "" {
		if err := w.send(ctx, r, md); err != nil {
			w.Log.WarnContext(ctx, "post-mortem webhook", "rollback", r.ID, "err", err)
		}
	}
}

func (w *Writer) send(ctx context.Context, r *rollback.Record, md string) error {
	body, _ := json.Marshal(map[string]string{"rollback_id": r.ID, "title": "Post-mortem: " + r.ID, "state": string(r.State), "markdown": md})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.WebhookURL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	client := w.Client
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("post-mortem webhook: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("post-mortem webhook: status %d", resp.StatusCode)
	}
	return nil
}

// Get returns the stored post-mortem, rendering it when none is stored yet,
// or when support reported users still affected: the draft was written
// when the rollback ended, before any report, and would say there were
// none. The fresh draft replaces the stored one.
func (w *Writer) Get(ctx context.Context, id string) (string, error) {
	b, err := w.Store.GetBlob(ctx, BlobKind, id)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return "", err
	}
	stored := err == nil
	r, err := w.Store.GetRollback(ctx, id)
	if err != nil {
		return "", err
	}
	if stored && len(r.SupportReports) == 0 {
		return string(b), nil
	}
	md, err := w.Render(ctx, r)
	if err != nil {
		return "", err
	}
	if stored {
		if err := w.Store.PutBlob(ctx, BlobKind, id, []byte(md)); err != nil {
			return "", err
		}
	}
	return md, nil
}

// Render fills the template of the rollback's (first) runbook, or the default.
func (w *Writer) Render(ctx context.Context, r *rollback.Record) (string, error) {
	text := defaultTemplate
	for _, c := range r.Services {
		if rb, ok := w.Runbooks[c.Runbook]; ok && rb.PostmortemPath() != "" {
			b, err := os.ReadFile(rb.PostmortemPath())
			if err != nil {
				return "", fmt.Errorf("read post-mortem template: %w", err)
			}
			text = string(b)
			break
		}
	}
	tmpl, err := template.New("postmortem").Option("missingkey=error").Funcs(templateFuncs).Parse(text)
	if err != nil {
		return "", fmt.Errorf("parse post-mortem template: %w", err)
	}
	data, err := w.data(ctx, r)
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	if err := tmpl.Execute(&b, data); err != nil {
		return "", fmt.Errorf("render post-mortem: %w", err)
	}
	return b.String(), nil
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") }

func (w *Writer) data(ctx context.Context, r *rollback.Record) (Data, error) {
	votes, err := w.Store.ListVotes(ctx, r.ID)
	if err != nil {
		return Data{}, err
	}
	steps, err := w.Store.ListSteps(ctx, r.ID)
	if err != nil {
		return Data{}, err
	}
	d := Data{Rollback: r, Kind: "Rollback", RecoveryTarget: "not set", MaxDataLoss: present.MaxDataLoss(r.MaxDataLoss)}
	if r.Drill {
		d.Kind = "Drill"
	}
	var names, runbooks []string
	for _, c := range r.Services {
		names = append(names, c.Service)
		runbooks = append(runbooks, c.Runbook)
	}
	d.Services, d.Runbooks = strings.Join(names, ", "), strings.Join(runbooks, ", ")
	d.Trigger = present.TriggerLabel(r.Trigger) + incidentLink(r.Trigger)
	d.Timeline = timeline(r, votes, steps)
	d.Support = supportLine(r)
	for _, p := range incident.Phases(r) {
		d.Phases = append(d.Phases, Phase{p.Name, human.Duration(p.Duration)})
	}
	if r.RecoveryTarget > 0 {
		d.RecoveryTarget = human.Duration(r.RecoveryTarget)
		took := r.EndedAt.Sub(r.CreatedAt)
		if r.State == rollback.StateSucceeded {
			took = rollback.RecoveryTime(r) // from detection, as the registry counts it
		}
		switch {
		case r.State != rollback.StateSucceeded:
			d.TargetVerdict = fmt.Sprintf("%s after %s; nothing was recovered.", strings.ToUpper(string(r.State[:1]))+string(r.State[1:]), human.Duration(took))
		case took <= r.RecoveryTarget:
			d.TargetVerdict = fmt.Sprintf("Recovered in %s, within the target.", human.Duration(took))
		default:
			d.TargetVerdict = fmt.Sprintf("Recovered in %s, %s over the target.", human.Duration(took), human.Duration(took-r.RecoveryTarget))
		}
	}
	d.Steps = summarizeSteps(steps)
	for _, res := range r.Validation {
		if res.Chart != nil {
			d.Charts = append(d.Charts, ChartRef{Title: fmt.Sprintf("%s · %s (%s)", res.Service, res.Name, res.Status),
				File: present.ChartFilename(r.ID, res.Service, res.Name)})
		}
	}
	return d, nil
}

// Charts draws the charts a rollback's post-mortem embeds, to be written
// beside it under the file names it links.
func (w *Writer) Charts(ctx context.Context, id string) ([]chat.Image, error) {
	r, err := w.Store.GetRollback(ctx, id)
	if err != nil {
		return nil, err
	}
	var out []chat.Image
	for _, res := range r.Validation {
		if res.Chart == nil {
			continue
		}
		img, err := present.ChartImage(r, res.Service, res)
		if err != nil {
			return nil, fmt.Errorf("chart of %s: %w", id, err)
		}
		out = append(out, img)
	}
	return out, nil
}

func timeline(r *rollback.Record, votes []rollback.Vote, steps []rollback.StepEvent) []Event {
	type ev struct {
		at   time.Time
		text string
	}
	var evs []ev
	add := func(at time.Time, text string) {
		if !at.IsZero() {
			evs = append(evs, ev{at, text})
		}
	}
	if r.Trigger.Kind != "person" {
		add(r.Trigger.At, fmt.Sprintf("%s %s: %s", r.Trigger.Source, r.Trigger.Kind, r.Trigger.Summary))
	}
	add(r.CreatedAt, fmt.Sprintf("proposed by %s (plan %s)", r.Requester, r.PlanHash))
	for _, v := range votes {
		verb := "approved"
		if !v.Approve {
			verb = "rejected: " + v.Reason
		}
		add(v.At, fmt.Sprintf("%s %s", v.User, verb))
	}
	for _, o := range r.Overrides {
		add(o.At, fmt.Sprintf("%s overrode %s: %s", o.By, o.Check, o.Reason))
	}
	add(r.DecidedAt, "decision: "+decision(r))
	add(r.StartedAt, "execution started")
	for _, s := range steps {
		if s.Kind == rollback.StepStarted || s.Kind == rollback.StepOutput {
			continue
		}
		text := fmt.Sprintf("%s/%s %s", s.Service, s.StepID, s.Kind)
		if s.Error != "" {
			text += ": " + s.Error
		}
		add(s.At, text)
	}
	for _, n := range r.Notes {
		add(n.At, n.Text)
	}
	add(r.ValidatingAt, "validation started")
	add(r.EndedAt, fmt.Sprintf("ended %s", r.State))
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].at.Before(evs[j].at) })
	// Every event is a cell of the timeline table: a line break would end
	// the row and an unescaped | would start a cell Markdown drops, and
	// reasons, notes and errors are typed by people or come from the world.
	out := make([]Event, len(evs))
	for i, e := range evs {
		out[i] = Event{stamp(e.at), markdownText(e.text)}
	}
	return out
}

// templateFuncs are what a post-mortem template may call besides Go's own:
// md for text that people or alerts wrote, fence for a code block's fence.
var templateFuncs = template.FuncMap{"md": markdownText, "fence": codeFence}

// markdownEscaper writes text inert in Markdown, on one line: reasons,
// notes, summaries and errors are typed by people or come from the world,
// and a draft that renders "![x](https://tracker.example/p.png)" from a
// reason fetches that image for everyone who opens it. A backslash before
// any ASCII punctuation is literal in CommonMark; escaping [ and ] is
// enough to stop links and images, < and > raw HTML and autolinks, the
// rest emphasis, code, strikethrough and table cells. Everything else
// (versions' dots, colons) stays as typed, so the draft stays readable to
// the person who edits it.
var markdownEscaper = strings.NewReplacer("\n", " ", "\r", " ", "\\", "\\\\", "`", "\\`", "*", "\\*", "_", "\\_",
	"[", "\\[", "]", "\\]", "<", "\\<", ">", "\\>", "|", "\\|", "~", "\\~")

func markdownText(s string) string { return markdownEscaper.Replace(s) }

// incidentLink is " ([id](url))" for an alert's incident, in Markdown. Both
// come from the alert: the id is escaped, and the url is linked only when it
// is http(s), with what could end the link's destination percent-encoded.
func incidentLink(t rollback.Trigger) string {
	if t.URL == "" {
		return ""
	}
	label := markdownText(cmp.Or(t.IncidentID, "incident"))
	u, err := url.Parse(t.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return " (" + label + ": " + markdownText(t.URL) + ")"
	}
	return " ([" + label + "](" + linkDestination.Replace(t.URL) + "))"
}

var linkDestination = strings.NewReplacer("(", "%28", ")", "%29", " ", "%20", "<", "%3C", ">", "%3E", "\n", "%0A", "\r", "%0D", "\\", "%5C")

// codeFence is a fence for a code block holding s: longer than any run of
// backticks in it, so step output cannot close the block early.
func codeFence(s string) string {
	longest, run := 0, 0
	for _, c := range s {
		if c != '`' {
			run = 0
			continue
		}
		run++
		longest = max(longest, run)
	}
	return strings.Repeat("`", max(3, longest+1))
}

func decision(r *rollback.Record) string {
	if len(r.Approvers) > 0 {
		return "approved by " + strings.Join(r.Approvers, ", ")
	}
	return string(r.State)
}

func summarizeSteps(events []rollback.StepEvent) []StepSummary {
	byKey := map[string]*StepSummary{}
	var order []string
	for _, e := range events {
		key := e.Service + "/" + e.StepID
		s, ok := byKey[key]
		if !ok {
			s = &StepSummary{Key: key}
			byKey[key] = s
			order = append(order, key)
		}
		switch e.Kind {
		case rollback.StepStarted:
			s.Attempts++
		case rollback.StepSucceeded, rollback.StepFailed, rollback.StepSkipped, rollback.StepInterrupted,
			rollback.StepCompensated, rollback.StepCompensationFailed, rollback.StepCompensationStopped:
			s.Result = e.Kind
			if e.Duration > 0 {
				s.Duration = human.Duration(e.Duration)
			}
			if out := strings.TrimSpace(e.Output + "\n" + e.Error); out != "" {
				lines := strings.Split(out, "\n")
				s.OutputTail = strings.Join(lines[max(0, len(lines)-10):], "\n")
			}
		}
	}
	out := make([]StepSummary, 0, len(order))
	for _, k := range order {
		out = append(out, *byKey[k])
	}
	return out
}

// supportLine is what support reported after the rollback, as of now: a
// post-mortem drafted at the end sees the window open and no report yet.
func supportLine(r *rollback.Record) string {
	if r.SupportUntil.IsZero() {
		return "No support check: only a successful rollback of a service with a support channel asks whether users are still affected."
	}
	n := len(r.SupportReports)
	if n == 0 {
		return fmt.Sprintf("No reports from support that users are still affected (window until %s).", stamp(r.SupportUntil))
	}
	return fmt.Sprintf("%d report(s) from support that users are still affected, last %s (window until %s).",
		n, stamp(r.LastSupportReport()), stamp(r.SupportUntil))
}
