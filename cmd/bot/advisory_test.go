package main

import (
	"strings"
	"testing"
	"time"

	"github.com/backout/backout/internal/rollback"
)

// TestChangeAdvisoryAgainstRealAPI: `bot gate --risk high --for-deploy V`
// stops a high-risk release (exit 3, with the reasons) until a drill of the
// service succeeded within drills.max_age_high_risk, against the real
// handler; `bot deploy record --risk high` still records one that shipped
// without, and says it was flagged.
func TestChangeAdvisoryAgainstRealAPI(t *testing.T) {
	srv, _, st := realAPI(t)
	getenv := env("BACKOUT_URL", srv.URL, "BACKOUT_API_TOKEN", apiToken)
	const digest = "@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	steps := []struct {
		name   string
		before func()
		args   []string
		code   int
		out    []string
	}{
		{"high risk, never drilled", nil, []string{"gate", "web", "--risk", "high", "--for-deploy", "1.3"}, exitGateClosed,
			[]string{"gate open for web\n", "change advisory closed for web 1.3 (high risk): its rollback path is not proven\n",
				"  - no fresh drill: web has never been drilled successfully (a high-risk deploy needs one within 7d)\n"}},
		{"medium risk needs no proof", nil, []string{"gate", "web", "--risk", "medium"}, exitOK,
			[]string{"change advisory open for web (medium risk)\n", "a medium-risk deploy needs no proven rollback path"}},
		{"fresh drill", func() {
			if err := st.PutDrill(t.Context(), rollback.DrillRecord{ID: "DR-1", Service: "web", RollbackID: "RB-4", At: time.Now().Add(-26 * time.Hour), Mode: "environment", Succeeded: true}); err != nil {
				t.Fatal(err)
			}
		}, []string{"gate", "web", "--risk", "high", "--for-deploy", "1.3"}, exitOK,
			[]string{"change advisory open for web 1.3 (high risk)\n", "  - last successful drill of web at ", "(1d2h ago, RB-4)", "  - runbook quick lints"}},
		{"--for-deploy needs --risk", nil, []string{"gate", "web", "--for-deploy", "1.3"}, exitInvalid, []string{"--for-deploy goes with --risk"}},
		{"bad risk", nil, []string{"gate", "web", "--risk", "yolo"}, exitRuntime, []string{`400 Bad Request: risk: unknown value "yolo"`}},
		{"high-risk deploy without a drill is recorded, flagged", nil,
			[]string{"deploy", "record", "--service", "api", "--version", "2.0", "--artifact", "reg/api" + digest, "--risk", "high"}, exitOK,
			[]string{"recorded D-1: api 2.0", "warning: recorded a high-risk deploy without a proven rollback path (flagged for the weekly report): no fresh drill: api has never been drilled successfully"}},
	}
	for _, s := range steps {
		if s.before != nil {
			s.before()
		}
		code, out, errOut := runBot(t, getenv, s.args...)
		for _, w := range s.out {
			if code != s.code || !strings.Contains(out+errOut, w) {
				t.Errorf("%s: exit %d, output %q; want exit %d containing %q", s.name, code, out+errOut, s.code, w)
			}
		}
	}
}
