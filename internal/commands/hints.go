package commands

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/backout/backout/internal/chat"
	"github.com/backout/backout/internal/present"
	"github.com/backout/backout/internal/rollback"
	"github.com/backout/backout/internal/suggest"
)

// maxListed bounds the names a hint lists, so that a big catalog or a busy
// day does not turn a one-line answer into a page.
const maxListed = 10

// unknownService explains the first of names that is not in the catalog,
// with the service most likely meant, or returns "". It runs before any
// handler, so every verb that names services answers a typo the same way and
// the lifecycle is asked nothing about a service that does not exist.
func (d *Dispatcher) unknownService(names []string) string {
	for _, name := range names {
		if d.svc.KnownService(name) {
			continue
		}
		known := d.svc.Services()
		if near := suggest.Closest(name, known); near != "" {
			return fmt.Sprintf("Unknown service %q. Did you mean %q?", name, near)
		}
		return fmt.Sprintf("Unknown service %q. Known services: %s.", name, list(slices.Sorted(slices.Values(known))))
	}
	return ""
}

// list joins names, the first maxListed of them, saying how many were left out.
func list(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	if len(names) <= maxListed {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:maxListed], ", "), len(names)-maxListed)
}

// OpenHint follows "There is no rollback RB-99.": it lists the open
// rollbacks, since a mistyped id (RB-99 for RB-9) usually means one of them,
// and says where ended ones are. The console's show and postmortem use it too.
func OpenHint(open []*rollback.Record) chat.Text {
	history := chat.Code("/rollback history <service>")
	if len(open) == 0 {
		return chat.Textf("\nNo rollback is open; %s lists past ones.", history)
	}
	ids := make([]string, len(open))
	for i, r := range open {
		ids[i] = fmt.Sprintf("%s (%s, %s)", r.ID, r.State, rollback.SummaryLine(r))
	}
	return chat.Textf("\nOpen: %s. %s lists past ones.", list(ids), history)
}

// idResult is result for a change to rollback id: when the failure is that
// there is no such rollback, it adds OpenHint. Whether the rollback exists
// is asked of the lifecycle, not read from the failure's wording.
func (d *Dispatcher) idResult(ctx context.Context, id string, failure rollback.Words, err error, ok string) (Reply, error) {
	if err != nil || failure == nil {
		return result(failure, err, ok)
	}
	r, _, err := d.svc.Rollback(ctx, id)
	if err != nil {
		d.log.WarnContext(ctx, "look up a rollback for a hint", "rollback", id, "err", err)
	}
	if err != nil || r != nil {
		// It exists (the failure is about its state), or the question
		// failed: the failure alone still answers the person.
		return privateWords(failure), nil
	}
	return privateText(present.Words(failure).Add(d.openHint(ctx))), nil
}

// openHint is OpenHint over the open rollbacks; a store error leaves the
// hint out rather than hiding the answer it would have followed.
func (d *Dispatcher) openHint(ctx context.Context) chat.Text {
	open, err := d.svc.OpenRollbacks(ctx)
	if err != nil {
		d.log.WarnContext(ctx, "list open rollbacks for a hint", "err", err)
		return nil
	}
	return OpenHint(open)
}
