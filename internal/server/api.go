package server

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/backout/backout/internal/config"
	"github.com/backout/backout/internal/incident"
	"github.com/backout/backout/internal/rollback"
	"github.com/backout/backout/internal/store"
	"github.com/backout/backout/internal/suggest"
)

// Lifecycle is what the API asks of the rollback lifecycle
// (*incident.Service implements it): the API records and reads through the
// lifecycle, never the store, so its answers mean what the chat commands'
// answers mean.
type Lifecycle interface {
	RecordDeploy(ctx context.Context, who incident.Actor, in incident.DeployInput) (*rollback.Deploy, rollback.Words, error)
	MarkGood(ctx context.Context, who incident.Actor, id string) (*rollback.Deploy, rollback.Words, error)
	DeployPage(ctx context.Context, q store.DeployQuery) ([]*rollback.Deploy, error)
	PipelineGate(ctx context.Context, service string) (incident.GateResult, rollback.Words, error)
	ServiceReadiness(ctx context.Context, service string) ([]rollback.CheckResult, rollback.Words, error)
	ChangeAdvisory(ctx context.Context, service, version, risk string) (incident.Advisory, rollback.Words, error)
	Rollbacks(ctx context.Context, q store.RollbackQuery) ([]*rollback.Record, error)
	Rollback(ctx context.Context, id string) (*rollback.Record, rollback.Words, error)
	KnownService(name string) bool
}

var _ Lifecycle = (*incident.Service)(nil)

// AuditVerifier checks the audit chain (audit.Verifier implements it). It
// is the one read the API makes beside the lifecycle: verification is about
// the store's own integrity, which the lifecycle has no say in.
type AuditVerifier interface {
	Verify(ctx context.Context, anchor *store.AuditAnchor) (store.AuditReport, error)
	// VerifyNew checks only what follows the last verified checkpoint.
	VerifyNew(ctx context.Context, anchor *store.AuditAnchor) (store.AuditReport, error)
}

// API is the /api/v1 surface for CI, pipelines and change boards.
type API struct {
	Svc        Lifecycle
	Token      config.Secret
	Postmortem func(r *http.Request, id string) (string, error)
	Audit      AuditVerifier // nil: /api/v1/audit/verify answers 503
	Log        *slog.Logger
}

// Mount registers the API routes, each with the query parameters it takes.
func (a *API) Mount(mount func(pattern, route string, h http.Handler)) {
	mount("POST /api/v1/deploys", "api_deploys_create", a.auth(takes(a.createDeploy)))
	mount("GET /api/v1/deploys", "api_deploys_list", a.auth(takes(a.listDeploys, deployFilters, pageParams)))
	mount("POST /api/v1/deploys/{id}/good", "api_deploys_good", a.auth(takes(a.markGood)))
	mount("GET /api/v1/services/{name}/gate", "api_gate", a.auth(takes(a.gate)))
	mount("GET /api/v1/services/{name}/readiness", "api_readiness", a.auth(takes(a.readiness, []string{"for_deploy", "risk"})))
	mount("GET /api/v1/rollbacks", "api_rollbacks", a.auth(takes(a.rollbacks, rollbackFilters, pageParams)))
	mount("GET /api/v1/rollbacks/{id}", "api_rollback", a.auth(takes(a.rollback)))
	mount("GET /api/v1/rollbacks/{id}/postmortem", "api_postmortem", a.auth(takes(a.postmortem)))
	mount("GET /api/v1/audit/verify", "api_audit_verify", a.auth(takes(a.auditVerify, []string{"anchor", "resume"})))
}

// pageParams are the paging parameters of a listing, beside its filters.
var pageParams = []string{"limit", "cursor", "format"}

// takes refuses a query parameter the route does not take, naming the one
// most likely meant: ignored, ?servce=api would answer for every service.
func takes(h http.HandlerFunc, lists ...[]string) http.HandlerFunc {
	known := slices.Concat(lists...)
	return func(w http.ResponseWriter, r *http.Request) {
		for name := range r.URL.Query() {
			if slices.Contains(known, name) {
				continue
			}
			msg := fmt.Sprintf("unknown query parameter %q", name)
			if s := suggest.Closest(name, known); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			if len(known) == 0 {
				msg += "; this route takes none"
			} else {
				msg += "; this route takes " + strings.Join(known, ", ")
			}
			writeError(w, http.StatusBadRequest, msg)
			return
		}
		h(w, r)
	}
}

func (a *API) auth(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !a.Token.Set() {
			writeError(w, http.StatusUnauthorized, "the API is disabled: set BACKOUT_API_TOKEN")
			return
		}
		// The scheme is case-insensitive (RFC 9110, 11.1); the token is not.
		scheme, got, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || subtle.ConstantTimeCompare([]byte(got), []byte(a.Token.Reveal())) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="backout"`)
			writeError(w, http.StatusUnauthorized, "missing or wrong bearer token")
			return
		}
		h(w, r)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// fault answers a system error: 503 when the store is down (callers retry).
func (a *API) fault(w http.ResponseWriter, r *http.Request, err error) {
	a.Log.ErrorContext(r.Context(), "api error", "request_id", RequestID(r.Context()), "err", err)
	if errors.Is(err, store.ErrUnavailable) {
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, "state store unavailable; retry")
		return
	}
	writeError(w, http.StatusInternalServerError, "internal error")
}

// refused answers a lifecycle call's (failure, err): a system fault (503 or
// 500), or the caller's mistake with status. It reports whether it answered.
// A failure is sent in its plain form (code in backticks): chat formatting
// is for chat.
func (a *API) refused(w http.ResponseWriter, r *http.Request, failure rollback.Words, err error, status int) bool {
	switch {
	case err != nil:
		a.fault(w, r, err)
	case failure != nil:
		writeError(w, status, failure.String())
	default:
		return false
	}
	return true
}

func (a *API) actor(r *http.Request) incident.Actor {
	return incident.Actor{User: "api", From: "api:" + remoteIP(r)}
}

func (a *API) createDeploy(w http.ResponseWriter, r *http.Request) {
	in, problem, err := decodeDeploy(r)
	if IsBodyTooLarge(err) {
		writeError(w, http.StatusRequestEntityTooLarge, "request body too large")
		return
	}
	if problem != "" {
		writeError(w, http.StatusBadRequest, problem)
		return
	}
	if problem := deployControlProblem(in); problem != "" {
		writeError(w, http.StatusBadRequest, problem)
		return
	}
	d, failure, err := a.Svc.RecordDeploy(r.Context(), a.actor(r), in)
	if a.refused(w, r, failure, err, http.StatusBadRequest) {
		return
	}
	resp := map[string]any{"deploy": d}
	var warnings []string
	if d.Mutable {
		warnings = append(warnings, "artifact is a mutable reference; pin it by digest (image@sha256:...) or chart revision (chart@rev:N) so a rollback can return to exactly this build")
	}
	if len(d.Unproven) > 0 {
		warnings = append(warnings, "recorded a high-risk deploy without a proven rollback path (flagged for the weekly report): "+strings.Join(d.Unproven, "; "))
	}
	if len(warnings) > 0 {
		resp["warning"] = strings.Join(warnings, "\n")
	}
	writeJSON(w, http.StatusCreated, resp)
}

func (a *API) markGood(w http.ResponseWriter, r *http.Request) {
	d, failure, err := a.Svc.MarkGood(r.Context(), a.actor(r), r.PathValue("id"))
	if a.refused(w, r, failure, err, http.StatusNotFound) {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"deploy": d})
}

func (a *API) gate(w http.ResponseWriter, r *http.Request) {
	res, failure, err := a.Svc.PipelineGate(r.Context(), r.PathValue("name"))
	if a.refused(w, r, failure, err, http.StatusNotFound) {
		return
	}
	writeGate(w, res.Open, res)
}

// writeGate answers a gate's verdict: 200 open, 423 Locked closed, so a
// pipeline can stop on the status alone.
func writeGate(w http.ResponseWriter, open bool, v any) {
	if !open {
		writeJSON(w, http.StatusLocked, v)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (a *API) readiness(w http.ResponseWriter, r *http.Request) {
	if q := r.URL.Query(); q.Has("risk") || q.Has("for_deploy") {
		a.advisory(w, r)
		return
	}
	status := http.StatusConflict // nothing to go back to, yet
	if !a.Svc.KnownService(r.PathValue("name")) {
		status = http.StatusNotFound
	}
	res, failure, err := a.Svc.ServiceReadiness(r.Context(), r.PathValue("name"))
	if a.refused(w, r, failure, err, status) {
		return
	}
	ready := true
	for _, c := range res {
		if c.Status == incident.Fail && c.Blocking {
			ready = false
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"ready": ready, "checks": res})
}

// advisory is the change advisory gate (?for_deploy=VERSION&risk=high): 423
// Locked with the reasons while a high-risk release's rollback path is not
// proven, so a pipeline stops before it ships; 200 with the evidence.
func (a *API) advisory(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	adv, failure, err := a.Svc.ChangeAdvisory(r.Context(), r.PathValue("name"), q.Get("for_deploy"), q.Get("risk"))
	if err == nil && failure != nil && !a.Svc.KnownService(r.PathValue("name")) {
		writeError(w, http.StatusNotFound, failure.String())
		return
	}
	if a.refused(w, r, failure, err, http.StatusBadRequest) {
		return
	}
	writeGate(w, adv.Open, adv)
}

func (a *API) rollback(w http.ResponseWriter, r *http.Request) {
	rb, failure, err := a.Svc.Rollback(r.Context(), r.PathValue("id"))
	if err != nil {
		a.fault(w, r, err)
		return
	}
	if failure != nil {
		// The lifecycle's failure is worded for chat; the API keeps its own.
		writeError(w, http.StatusNotFound, "no such rollback")
		return
	}
	writeJSON(w, http.StatusOK, rb)
}

func (a *API) postmortem(w http.ResponseWriter, r *http.Request) {
	md, err := a.Postmortem(r, r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, "no such rollback")
		return
	}
	if err != nil {
		a.fault(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/markdown; charset=utf-8")
	_, _ = w.Write([]byte(md))
}

// AuditVerdict is the answer of GET /api/v1/audit/verify: 200 with OK, or
// 409 with the first broken link (Head is then the last intact one).
type AuditVerdict struct {
	OK bool `json:"ok"`
	store.AuditReport
	Error  string            `json:"error,omitempty"`
	Broken *store.ChainError `json:"broken,omitempty"`
}

// auditVerify streams the chain through the server's own store and key, so
// `bot audit verify` works while this process holds the bolt file.
func (a *API) auditVerify(w http.ResponseWriter, r *http.Request) {
	if a.Audit == nil {
		writeError(w, http.StatusServiceUnavailable, "audit verification is not available on this server")
		return
	}
	var anchor *store.AuditAnchor
	if v := r.URL.Query().Get("anchor"); v != "" {
		an, err := store.ParseAuditAnchor(v)
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		anchor = &an
	}
	verify := a.Audit.Verify
	if r.URL.Query().Get("resume") == "true" {
		verify = a.Audit.VerifyNew
	}
	rep, err := verify(r.Context(), anchor)
	var broken *store.ChainError
	switch {
	case errors.As(err, &broken):
		writeJSON(w, http.StatusConflict, AuditVerdict{AuditReport: rep, Error: broken.Error(), Broken: broken})
	case err != nil:
		a.fault(w, r, err)
	default:
		writeJSON(w, http.StatusOK, AuditVerdict{OK: true, AuditReport: rep})
	}
}

// deployFields words what POST /api/v1/deploys takes, for its refusals.
const deployFields = `(want {"service","version","artifact","config_version","environment","commit","deployed_by","url","risk"})`

// decodeDeploy reads POST /api/v1/deploys' body: one JSON object of known
// fields, in valid UTF-8, followed by nothing. encoding/json alone takes
// the first object of a concatenation (a retried write glued to the first)
// and turns invalid UTF-8 into U+FFFD, so a version CI never sent would be
// recorded. The problem is worded for the client; err is the read error
// (a body too large).
func decodeDeploy(r *http.Request) (incident.DeployInput, string, error) {
	var in incident.DeployInput
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return in, "cannot read body: " + err.Error(), err
	}
	if !utf8.Valid(body) {
		return in, "invalid JSON: the body is not valid UTF-8 " + deployFields, nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return in, "invalid JSON: " + err.Error() + " " + deployFields, nil
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return in, "invalid JSON: data after the deploy object; send one object " + deployFields, nil
	}
	return in, "", nil
}

// Record is one registry row.
type Record struct {
	ID        string             `json:"id"`
	State     string             `json:"outcome"`
	Drill     bool               `json:"drill"`
	Trigger   string             `json:"trigger"`
	Scope     string             `json:"scope"`
	Services  []string           `json:"services"`
	Versions  map[string]string  `json:"versions"`
	Requester string             `json:"requester"`
	Approvers []string           `json:"approvers"`
	Created   time.Time          `json:"created_at"`
	Ended     time.Time          `json:"ended_at,omitzero"`
	Phases    map[string]float64 `json:"phases_seconds"` // detect, approve, execute, validate, total
	Summary   string             `json:"summary"`
	Link      string             `json:"link,omitempty"`
	// SupportReports counts the people who reported, within the support
	// window, that users were still affected after the rollback.
	SupportReports int `json:"support_reports"`
}

var recordHeader = []string{"id", "outcome", "drill", "trigger", "scope", "services", "versions", "requester", "approvers",
	"created_at", "ended_at", "detect_seconds", "approve_seconds", "execute_seconds", "validate_seconds", "total_seconds", "summary", "link",
	"support_reports"}

// RecordOf flattens a rollback for the registry.
func RecordOf(r *rollback.Record) Record {
	rec := Record{ID: r.ID, State: string(r.State), Drill: r.Drill, Trigger: r.Trigger.Kind, Scope: r.Scope,
		Services: r.ServiceNames(), Versions: map[string]string{}, Requester: r.Requester, Approvers: r.Approvers,
		Created: r.CreatedAt, Ended: r.EndedAt, Phases: map[string]float64{}, Summary: r.Outcome, Link: r.Trigger.URL,
		SupportReports: len(r.SupportReports)}
	for _, c := range r.Services {
		rec.Versions[c.Service] = fmt.Sprintf("%s -> %s", c.Current.Version, c.Target.Version)
	}
	for _, p := range incident.Phases(r) {
		rec.Phases[p.Name] = p.Duration.Seconds()
	}
	return rec
}

func (rec Record) row() []string {
	var versions []string
	for _, s := range rec.Services {
		versions = append(versions, s+" "+rec.Versions[s])
	}
	ended := ""
	if !rec.Ended.IsZero() {
		ended = rec.Ended.UTC().Format(time.RFC3339)
	}
	return inertCells([]string{rec.ID, rec.State, strconv.FormatBool(rec.Drill), rec.Trigger, rec.Scope, strings.Join(rec.Services, ";"),
		strings.Join(versions, ";"), rec.Requester, strings.Join(rec.Approvers, ";"), rec.Created.UTC().Format(time.RFC3339), ended,
		rec.seconds("detect"), rec.seconds("approve"), rec.seconds("execute"), rec.seconds("validate"), rec.seconds("total"), rec.Summary, rec.Link,
		strconv.Itoa(rec.SupportReports)})
}

// inertCells keeps a CSV export from being a spreadsheet's formulas: where
// a cell, or a part of it after a ; , or tab (a spreadsheet in a locale
// whose separator is ; splits there, whatever the quoting), starts with
// = + - @ or a tab or carriage return (a link or summary an alert sent, say
// "=HYPERLINK(…)"), an apostrophe goes before it, which spreadsheets read
// as "text" (OWASP's advice on CSV injection). A plain number ("-3") is
// left alone: it is no formula. No cell Backout writes itself needs it.
func inertCells(cells []string) []string {
	for i, c := range cells {
		if _, err := strconv.ParseFloat(c, 64); err == nil {
			continue
		}
		var b strings.Builder
		start := true
		for _, r := range c {
			if start && strings.ContainsRune("=+-@\t\r", r) {
				b.WriteByte('\'')
			}
			b.WriteRune(r)
			start = r == ';' || r == ',' || r == '\t'
		}
		cells[i] = b.String()
	}
	return cells
}

// seconds is a phase's duration in seconds, a number a spreadsheet sums;
// empty when the rollback never had that phase.
func (rec Record) seconds(phase string) string {
	s, ok := rec.Phases[phase]
	if !ok {
		return ""
	}
	return strconv.FormatFloat(s, 'f', -1, 64)
}
