package server

import (
	"cmp"
	"encoding/csv"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/backout/backout/internal/rollback"
	"github.com/backout/backout/internal/store"
	"github.com/backout/backout/internal/yamlx"
)

// Listings answer a page at a time, read through the store's indexes: a
// client follows next_cursor until it is absent. CSV streams the whole
// range instead, a page at a time, so an export of any size is never held
// in memory.
const (
	defaultPage = 100
	maxPage     = 1000
	// csvPage is how many rows a CSV export reads per store call.
	csvPage = 500
)

// page is the paging part of a listing's query string.
type page struct {
	limit    int // what the client asked for; 0 when it did not say
	before   store.Position
	since    time.Time
	until    time.Time
	wantsCSV bool
}

// Cursor scopes: a cursor continues only the listing, with the same
// filters, that made it (limit and format may change between pages).
var (
	rollbackFilters = []string{"service", "outcome", "trigger", "since", "until"}
	deployFilters   = []string{"service", "since", "until"}
)

// cursorScope names a listing and its filters as the request gave them.
func cursorScope(listing string, q url.Values, filters []string) string {
	v := url.Values{}
	for _, f := range filters {
		if q.Has(f) {
			v[f] = q[f]
		}
	}
	return listing + "?" + v.Encode()
}

// parsePage reads limit, cursor (of scope), since, until and format (or
// Accept); the failure is worded for the client.
func parsePage(r *http.Request, now time.Time, scope string) (page, string) {
	q := r.URL.Query()
	var p page
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 {
			return p, "limit: want a whole number from 1 to 1000"
		}
		if n > maxPage {
			return p, fmt.Sprintf("limit: %d is more than %d; ask for pages of at most %d and follow next_cursor (or export with format=csv, which streams any range)", n, maxPage, maxPage)
		}
		p.limit = n
	}
	if c := q.Get("cursor"); c != "" {
		pos, err := store.ParseCursor(scope, c)
		if err != nil {
			return p, err.Error()
		}
		p.before = pos
	}
	for _, b := range []struct {
		name string
		dst  *time.Time
	}{{"since", &p.since}, {"until", &p.until}} {
		t, ok := parseWhen(q.Get(b.name), now)
		if !ok {
			return p, b.name + ": want an RFC 3339 time or a duration such as 30d"
		}
		*b.dst = t
	}
	if !p.since.IsZero() && !p.until.IsZero() && p.since.After(p.until) {
		return p, fmt.Sprintf("since (%s) is after until (%s): since starts the range, until ends it", q.Get("since"), q.Get("until"))
	}
	switch q.Get("format") {
	case "json":
	case "csv":
		p.wantsCSV = true
	case "":
		p.wantsCSV = acceptsCSV(r.Header.Get("Accept"))
	default:
		return p, "format: want json or csv"
	}
	return p, ""
}

// parseWhen reads an RFC 3339 time or a duration back from now; "" is the
// zero time.
func parseWhen(v string, now time.Time) (time.Time, bool) {
	if v == "" {
		return time.Time{}, true
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, true
	}
	if d, err := yamlx.ParseDuration(v); err == nil {
		return now.Add(-d), true
	}
	return time.Time{}, false
}

// acceptsCSV reports whether an Accept header prefers text/csv to JSON.
func acceptsCSV(accept string) bool {
	for _, part := range strings.Split(accept, ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		switch mt {
		case "text/csv":
			return true
		case "application/json", "*/*":
			return false
		}
	}
	return false
}

// rollbackQuery builds the store query of GET /api/v1/rollbacks; the
// failure, for an outcome or trigger no rollback can have, is worded for
// the client.
func rollbackQuery(q url.Values, p page) (store.RollbackQuery, string) {
	query := store.RollbackQuery{Service: q.Get("service"), Trigger: q.Get("trigger"), Since: p.since, Until: p.until, Before: p.before}
	if query.Trigger != "" && !slices.Contains(rollback.TriggerKinds, query.Trigger) {
		return query, fmt.Sprintf("trigger: unknown kind %q (want %s)", query.Trigger, orList(rollback.TriggerKinds))
	}
	if o := q.Get("outcome"); o != "" {
		for _, s := range strings.Split(o, ",") {
			state := rollback.State(strings.TrimSpace(s))
			if !slices.Contains(rollback.States, state) {
				names := make([]string, len(rollback.States))
				for i, st := range rollback.States {
					names[i] = string(st)
				}
				return query, fmt.Sprintf("outcome: unknown state %q (want one or more of %s, comma-separated)", state, strings.Join(names, ", "))
			}
			query.States = append(query.States, state)
		}
	}
	return query, ""
}

// orList words a list of choices: "a, b or c".
func orList(words []string) string {
	if len(words) < 2 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}

// rollbacks answers GET /api/v1/rollbacks: one page of JSON, or a CSV of
// the whole range (or of limit rows when given).
func (a *API) rollbacks(w http.ResponseWriter, r *http.Request) {
	scope := cursorScope("rollbacks", r.URL.Query(), rollbackFilters)
	p, failure := parsePage(r, time.Now(), scope)
	if failure != "" {
		writeError(w, http.StatusBadRequest, failure)
		return
	}
	query, failure := rollbackQuery(r.URL.Query(), p)
	if failure != "" {
		writeError(w, http.StatusBadRequest, failure)
		return
	}
	if p.wantsCSV {
		a.rollbacksCSV(w, r, query, p.limit)
		return
	}
	query.Limit = cmp.Or(p.limit, defaultPage) + 1 // one more says whether a next page exists
	rs, err := a.Svc.Rollbacks(r.Context(), query)
	if err != nil {
		a.fault(w, r, err)
		return
	}
	resp := map[string]any{}
	if len(rs) == query.Limit {
		rs = rs[:len(rs)-1]
		resp["next_cursor"] = store.EncodeCursor(scope, store.PositionOf(rs[len(rs)-1]))
	}
	records := make([]Record, 0, len(rs))
	for _, rb := range rs {
		records = append(records, RecordOf(rb))
	}
	resp["rollbacks"] = records
	writeJSON(w, http.StatusOK, resp)
}

// rollbacksCSV writes the range a page at a time, flushing each, so memory
// holds one page whatever the range. A store failure after the header went
// out can only cut the body short; it is logged, and the last line is not
// a complete row.
func (a *API) rollbacksCSV(w http.ResponseWriter, r *http.Request, query store.RollbackQuery, limit int) {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	cw := csv.NewWriter(w)
	left := limit // 0: everything
	for started := false; ; started = true {
		query.Limit = csvPage
		if limit > 0 {
			query.Limit = min(csvPage, left)
		}
		rs, err := a.Svc.Rollbacks(r.Context(), query)
		if err != nil {
			if !started {
				a.fault(w, r, err)
				return
			}
			a.Log.ErrorContext(r.Context(), "csv export cut short", "request_id", RequestID(r.Context()), "err", err)
			return
		}
		if !started {
			_ = cw.Write(recordHeader)
		}
		for _, rb := range rs {
			_ = cw.Write(RecordOf(rb).row())
		}
		cw.Flush()
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		left -= len(rs)
		if len(rs) < query.Limit || (limit > 0 && left == 0) || cw.Error() != nil {
			return
		}
		query.Before = store.PositionOf(rs[len(rs)-1])
	}
}

// listDeploys answers GET /api/v1/deploys: a page of one service's deploys.
func (a *API) listDeploys(w http.ResponseWriter, r *http.Request) {
	service := r.URL.Query().Get("service")
	if !a.Svc.KnownService(service) {
		writeError(w, http.StatusBadRequest, "query parameter service must name a catalog service")
		return
	}
	scope := cursorScope("deploys", r.URL.Query(), deployFilters)
	p, failure := parsePage(r, time.Now(), scope)
	if failure == "" && p.wantsCSV {
		failure = "format: deploys are listed as JSON only"
	}
	if failure != "" {
		writeError(w, http.StatusBadRequest, failure)
		return
	}
	q := store.DeployQuery{Service: service, Since: p.since, Until: p.until, Before: p.before, Limit: cmp.Or(p.limit, defaultPage) + 1}
	ds, err := a.Svc.DeployPage(r.Context(), q)
	if err != nil {
		a.fault(w, r, err)
		return
	}
	resp := map[string]any{}
	if len(ds) == q.Limit {
		ds = ds[:len(ds)-1]
		resp["next_cursor"] = store.EncodeCursor(scope, store.DeployPosition(ds[len(ds)-1]))
	}
	if ds == nil {
		ds = []*rollback.Deploy{}
	}
	resp["deploys"] = ds
	writeJSON(w, http.StatusOK, resp)
}
