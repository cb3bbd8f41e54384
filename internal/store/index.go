package store

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/backout/backout/internal/rollback"
)

// Both backends keep secondary indexes of rollbacks (and deploys and
// drills) so that what the lifecycle reads on every tick, proposal, vote
// and gate check costs as much with 100k finished rollbacks as with none.
// An index is an ordered set of positions; a position is (created at, id),
// newest first, ties by id descending. The index names and which one a
// query walks are decided here, once, for both backends.

// Position is a place in an index: a record's time at microsecond
// resolution and its id. The zero Position means "from the newest".
type Position struct {
	Micro int64
	ID    string
}

// IsZero reports whether p is the start of a listing.
func (p Position) IsZero() bool { return p.ID == "" && p.Micro == 0 }

// PositionOf is where a rollback sits in every rollback index.
func PositionOf(r *rollback.Record) Position {
	return Position{Micro: r.CreatedAt.UnixMicro(), ID: r.ID}
}

// DeployPosition is where a deploy sits in its service's index.
func DeployPosition(d *rollback.Deploy) Position { return Position{Micro: d.At.UnixMicro(), ID: d.ID} }

// DrillPosition is where a scorecard sits in its service's index.
func DrillPosition(d *rollback.DrillRecord) Position {
	return Position{Micro: d.At.UnixMicro(), ID: d.ID}
}

// SortKey renders p so that byte order is (time, id) order: 16 hex digits
// of the time with its sign bit flipped, a colon, the id. Bolt uses it as a
// bucket key suffix, Redis as a member of a lexicographic sorted set.
func (p Position) SortKey() string {
	return fmt.Sprintf("%016x:%s", uint64(p.Micro)^(1<<63), p.ID)
}

// TimeSortKey is the smallest sort key at t's microsecond: a bound for
// Since and Until (the exact, nanosecond filter is RollbackQuery.Match).
func TimeSortKey(t time.Time) string { return Position{Micro: t.UnixMicro()}.SortKey() }

// ParseSortKey reads a SortKey back.
func ParseSortKey(k string) (Position, error) {
	hexTime, id, ok := strings.Cut(k, ":")
	u, err := strconv.ParseUint(hexTime, 16, 64)
	if !ok || err != nil || len(hexTime) != 16 {
		return Position{}, fmt.Errorf("index key %q: want 16 hex digits, a colon and an id", k)
	}
	return Position{Micro: int64(u ^ (1 << 63)), ID: id}, nil
}

// Index names. A rollback is in IndexTime, IndexOpen while it is not
// terminal, one IndexState and one IndexService per service in its scope.
const (
	IndexTime = "time"
	IndexOpen = "open"
)

// IndexState names the index of rollbacks in state st.
func IndexState(st rollback.State) string { return "state:" + string(st) }

// IndexService names the index of rollbacks (or deploys, or drills) of a service.
func IndexService(service string) string { return "svc:" + service }

// IndexServiceState names the index of a service's rollbacks in state st:
// a service's failures are found without reading its other rollbacks.
func IndexServiceState(service string, st rollback.State) string {
	return "svcstate:" + string(st) + ":" + service
}

// IndexTrigger names the index of rollbacks started by a trigger kind.
func IndexTrigger(kind string) string { return "trigger:" + kind }

// RollbackIndexes lists the indexes r belongs to; an update removes the
// old record's entries and adds the new one's in the same atomic write.
func RollbackIndexes(r *rollback.Record) []string {
	out := []string{IndexTime, IndexState(r.State), IndexTrigger(r.Trigger.Kind)}
	if !r.State.Terminal() {
		out = append(out, IndexOpen)
	}
	for _, svc := range r.ServiceNames() {
		out = append(out, IndexService(svc), IndexServiceState(svc, r.State))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Index is the index q is answered from: the smallest one that holds
// every match. Open rollbacks are few whatever the history, so any query
// for open states only reads the open index; then a service's rollbacks in
// one state; a service's; a single state's; a trigger's; otherwise time.
// Every other condition is checked on the record (Match), so a page of a
// rare combination the index does not cover (a service's rollbacks in two
// ended states, by one trigger) may read further back than the page.
func (q RollbackQuery) Index() string {
	switch {
	case len(q.States) > 0 && !slices.ContainsFunc(q.States, rollback.State.Terminal):
		return IndexOpen
	case q.Service != "" && len(q.States) == 1:
		return IndexServiceState(q.Service, q.States[0])
	case q.Service != "":
		return IndexService(q.Service)
	case len(q.States) == 1:
		return IndexState(q.States[0])
	case q.Trigger != "":
		return IndexTrigger(q.Trigger)
	default:
		return IndexTime
	}
}

// Bounds are the sort keys a query walks between, newest first: below
// upper (exclusive) down to lower (inclusive; "" means the beginning).
func (q RollbackQuery) Bounds() (upper, lower string) {
	upper = "\xff"
	if !q.Until.IsZero() {
		// Until is exclusive at nanoseconds; every key of its microsecond
		// may still match, so the walk starts just past them.
		upper = Position{Micro: q.Until.UnixMicro() + 1}.SortKey()
	}
	if !q.Before.IsZero() && (q.Before.SortKey() < upper) {
		upper = q.Before.SortKey()
	}
	if !q.Since.IsZero() {
		lower = TimeSortKey(q.Since)
	}
	return upper, lower
}

// Cursor encoding. A cursor is opaque to API clients: base64 (URL
// alphabet, no padding) of a version tag, a check and the sort key of the
// last record of the previous page. The check is a digest of the cursor's
// scope (the listing and its filters, as the caller words them) and the
// sort key, so a cursor used with another listing or other filters, or
// edited, is refused instead of starting a page of something else. It is
// not a secret: a client that forges one reads nothing its token could
// not read anyway.
const (
	cursorTag    = "c2|"
	oldCursorTag = "c1|" // before cursors carried a check
	checkLen     = 16    // hex digits of the check
)

// maxCursor bounds what ParseCursor decodes; ids are short.
const maxCursor = 512

func cursorCheck(scope, sortKey string) string {
	sum := sha256.Sum256([]byte(scope + "\x00" + sortKey))
	return hex.EncodeToString(sum[:])[:checkLen]
}

// EncodeCursor is the cursor that continues after p, in scope.
func EncodeCursor(scope string, p Position) string {
	key := p.SortKey()
	return base64.RawURLEncoding.EncodeToString([]byte(cursorTag + cursorCheck(scope, key) + "|" + key))
}

// ParseCursor reads a cursor EncodeCursor made for the same scope.
// Anything else (edited, truncated, from another listing, query or API) is
// an error worded for the caller.
func ParseCursor(scope, s string) (Position, error) {
	bad := func(why string) (Position, error) {
		return Position{}, fmt.Errorf("cursor: %s; pass next_cursor from the previous page of the same query unchanged", why)
	}
	if len(s) > maxCursor {
		return bad("too long")
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return bad("not base64url")
	}
	if strings.HasPrefix(string(raw), oldCursorTag) {
		return bad("made by an older Backout; start the listing again without a cursor")
	}
	rest, ok := strings.CutPrefix(string(raw), cursorTag)
	if !ok {
		return bad("not a cursor of this API")
	}
	check, key, ok := strings.Cut(rest, "|")
	if !ok || len(check) != checkLen || check != cursorCheck(scope, key) {
		return bad("it belongs to another listing or other filters, or was edited")
	}
	p, err := ParseSortKey(key)
	if err != nil || p.ID == "" || strings.ContainsFunc(p.ID, func(r rune) bool { return unicode.IsControl(r) || r == unicode.ReplacementChar }) {
		return bad("malformed position")
	}
	return p, nil
}

// SortDrills orders scorecards newest first, ties by id descending: the
// order of the drill indexes.
func SortDrills(ds []rollback.DrillRecord) {
	slices.SortStableFunc(ds, func(a, b rollback.DrillRecord) int {
		return strings.Compare(DrillPosition(&b).SortKey(), DrillPosition(&a).SortKey())
	})
}
