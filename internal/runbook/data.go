package runbook

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/backout/backout/internal/config"
	"github.com/backout/backout/internal/datarule"
	"github.com/backout/backout/internal/yamlx"
)

// MeasuresDataLoss marks a readiness check whose value is the seconds of
// data a rollback would lose.
const MeasuresDataLoss = "data_loss"

// DataItem is one entry of data.reverts or data.keeps, `name (note)`, with
// where it was written so lint can point at it.
type DataItem struct {
	Pos  yamlx.Pos
	Text string
}

// UnmarshalYAMLX implements yamlx.Unmarshaler: an item is a string.
func (d *DataItem) UnmarshalYAMLX(file string, n *yaml.Node) error {
	pos := yamlx.Pos{File: file, Line: n.Line, Col: n.Column}
	if n.Kind != yaml.ScalarNode {
		return pos.Errorf("expected a data item such as \"orders.audit_log (why)\"")
	}
	*d = DataItem{Pos: pos, Text: n.Value}
	return nil
}

func (d DataItem) String() string { return d.Text }

// DataProblem is one thing wrong with what a runbook does to data, where
// it was written.
type DataProblem struct {
	Pos yamlx.Pos
	Msg string
}

// parseData parses a runbook's data items; problems are items that do not
// follow the grammar.
func parseData(rb *Runbook) (reverts, keeps []datarule.Item, problems []DataProblem) {
	if rb.Data == nil {
		return nil, nil, nil
	}
	parse := func(key string, items []DataItem) []datarule.Item {
		var out []datarule.Item
		for i, d := range items {
			it, err := datarule.ParseItem(d.Text)
			if err != nil {
				problems = append(problems, DataProblem{d.Pos, fmt.Sprintf("data.%s[%d]: %v", key, i, err)})
				continue
			}
			out = append(out, it)
		}
		return out
	}
	return parse("reverts", rb.Data.Reverts), parse("keeps", rb.Data.Keeps), problems
}

// revertPos is where a revert item was written.
func revertPos(rb *Runbook, it datarule.Item) yamlx.Pos {
	for _, d := range rb.Data.Reverts {
		if strings.TrimSpace(d.Text) == it.Text {
			return d.Pos
		}
	}
	return rb.Data.Pos
}

// ForbiddenReverts lists what rb reverts against its own data.keeps and
// against the constraints of each of svcs (the services whose constraints
// apply: every service in a rollback). Lint and planning both ask here, so
// a catalog that lints is not refused at planning for this, and the
// reverse. Items that do not follow the grammar are lint's to report (and
// its readiness row blocks the rollback); the others are still checked.
func ForbiddenReverts(rb *Runbook, svcs []*config.Service) []DataProblem {
	reverts, keeps, _ := parseData(rb)
	var problems []DataProblem
	for _, c := range datarule.Conflicts(reverts, keeps) {
		problems = append(problems, DataProblem{revertPos(rb, c.Revert), fmt.Sprintf(
			"runbook %s reverts %q, but its data.keeps says %q stays", rb.Name, c.Revert.Text, c.Forbidden.Text)})
	}
	for _, svc := range svcs {
		problems = append(problems, constraintProblems(rb, reverts, svc)...)
	}
	return problems
}

func constraintProblems(rb *Runbook, reverts []datarule.Item, svc *config.Service) []DataProblem {
	cons, err := datarule.ParseConstraints(svc.Constraints)
	if err != nil {
		return nil // config validation reports it at services.NAME.constraints
	}
	var out []DataProblem
	for _, c := range datarule.Conflicts(reverts, cons.Forbidden()) {
		out = append(out, DataProblem{revertPos(rb, c.Revert), fmt.Sprintf(
			"runbook %s reverts %q, but the constraints of %s say: never revert %s", rb.Name, c.Revert.Text, svc.Name, c.Forbidden.Text)})
	}
	return out
}

// lintData reports data items that do not follow the grammar and reverts
// the runbook's own keeps forbid.
func lintData(rb *Runbook, errs *yamlx.Errors) {
	_, _, malformed := parseData(rb)
	for _, p := range append(malformed, ForbiddenReverts(rb, nil)...) {
		errs.Addf(p.Pos, "%s", p.Msg)
	}
	for i, c := range rb.Readiness {
		if c.Measures != "" && c.Measures != MeasuresDataLoss {
			errs.Addf(yamlx.KeyAt(c.Pos, c.KeyPos, "measures"), "readiness[%d] (%s): measures: unknown value %q (want %s)", i, c.Name, c.Measures, MeasuresDataLoss)
		}
	}
	if rb.Validation != nil {
		for i, c := range rb.Validation.Checks {
			if c.Measures != "" {
				errs.Addf(yamlx.KeyAt(c.Pos, c.KeyPos, "measures"), "validation.checks[%d] (%s): measures: only readiness checks measure data loss (it is known before the rollback runs)", i, c.Name)
			}
		}
	}
}

// lintDataConstraints reports each service whose runbook reverts what the
// service's constraints forbid, at the revert, naming where the rule is.
func lintDataConstraints(cfg *config.Config, set Set, errs *yamlx.Errors) {
	for i := range cfg.Services {
		svc := &cfg.Services[i]
		rb, ok := set[svc.Runbook]
		if !ok || svc.Constraints == "" {
			continue
		}
		reverts, _, _ := parseData(rb) // the runbook's own lint reports malformed items
		at := yamlx.KeyAt(svc.Pos, svc.KeyPos, "constraints")
		for _, p := range constraintProblems(rb, reverts, svc) {
			errs.Addf(p.Pos, "service %s: %s (services.%s.constraints, %s)", svc.Name, p.Msg, svc.Name, at)
		}
	}
	lintReleaseData(cfg, set, errs)
}

// lintReleaseData reports, for each release, a member's runbook that
// reverts what another member's constraints forbid: the release always
// goes back as a whole, so planning would refuse it every time.
func lintReleaseData(cfg *config.Config, set Set, errs *yamlx.Errors) {
	for _, name := range slices.Sorted(maps.Keys(cfg.Releases)) {
		for _, member := range cfg.Releases[name] {
			svc, ok := cfg.ServiceByName(member)
			if !ok {
				continue // config validation reports an unknown member
			}
			rb, ok := set[svc.Runbook]
			if !ok {
				continue // LintCatalog reports an unknown runbook
			}
			reverts, _, _ := parseData(rb)
			for _, other := range cfg.Releases[name] {
				peer, ok := cfg.ServiceByName(other)
				if !ok || other == member {
					continue
				}
				for _, p := range constraintProblems(rb, reverts, peer) {
					errs.Addf(p.Pos, "release %s: service %s: %s (services.%s.constraints, %s)", name, member, p.Msg, other, yamlx.KeyAt(peer.Pos, peer.KeyPos, "constraints"))
				}
			}
		}
	}
}
