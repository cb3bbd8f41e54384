package store

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
)

// Hasher computes audit event hashes over an event's content and PrevHash.
//
// The zero Hasher is plain SHA-256: it shows an edit by someone who did not
// recompute the chain, but anyone who can write to the store can rewrite
// events and rehash every later one consistently. A keyed Hasher
// (HMAC-SHA256, from NewHasher) makes such a rewrite detectable by whoever
// holds the key, as long as the people with store access do not. Anchors
// (see AuditAnchor) catch what no hash can: the last events cut off.
//
// The key lives in a closure, so printing a Hasher never shows it.
type Hasher struct {
	mac func() hash.Hash // nil: unkeyed SHA-256
}

// NewHasher returns an HMAC-SHA256 hasher for key; an empty key gives the
// unkeyed SHA-256 hasher.
func NewHasher(key []byte) Hasher {
	if len(key) == 0 {
		return Hasher{}
	}
	k := bytes.Clone(key)
	return Hasher{mac: func() hash.Hash { return hmac.New(sha256.New, k) }}
}

// Keyed reports whether the hasher uses a key.
func (h Hasher) Keyed() bool { return h.mac != nil }

// String names the algorithm, never the key.
func (h Hasher) String() string {
	if h.Keyed() {
		return "HMAC-SHA256"
	}
	return "SHA-256"
}

// Hash computes e's hash; e.Hash itself is not part of it.
func (h Hasher) Hash(e AuditEvent) string {
	e.Hash = ""
	b, _ := json.Marshal(e) // a struct of strings, times and maps: cannot fail
	if h.mac == nil {
		sum := sha256.Sum256(b)
		return hex.EncodeToString(sum[:])
	}
	m := h.mac()
	m.Write(b)
	return hex.EncodeToString(m.Sum(nil))
}

// HashAudit computes an event's unkeyed (SHA-256) hash.
func HashAudit(e AuditEvent) string { return Hasher{}.Hash(e) }

// AuditAnchor is the chain's head (seq, hash) kept outside the store, so a
// later verification can prove the chain still reaches it.
type AuditAnchor struct {
	Seq  int64  `json:"seq"`
	Hash string `json:"hash"`
}

// String is the SEQ:HASH form `bot audit verify --anchor` takes.
func (a AuditAnchor) String() string { return strconv.FormatInt(a.Seq, 10) + ":" + a.Hash }

// ParseAuditAnchor reads SEQ:HASH with a whole hex hash: a prefix would let
// a forger search for a matching one.
func ParseAuditAnchor(s string) (AuditAnchor, error) {
	seqText, h, ok := strings.Cut(strings.TrimSpace(s), ":")
	seq, err := strconv.ParseInt(seqText, 10, 64)
	if !ok || err != nil || seq < 1 {
		return AuditAnchor{}, fmt.Errorf("anchor %q: want SEQ:HASH, such as 42:9f86d0…, with SEQ 1 or more", s)
	}
	if b, err := hex.DecodeString(h); err != nil || len(b) != sha256.Size {
		return AuditAnchor{}, fmt.Errorf("anchor %q: the hash must be the whole 64-digit hex hash the anchor line shows", s)
	}
	return AuditAnchor{Seq: seq, Hash: strings.ToLower(h)}, nil
}

// ChainError is the first broken link found: the seq where the chain stops
// being trustworthy, and why.
type ChainError struct {
	Seq    int64  `json:"seq"`
	Reason string `json:"reason"`
}

func (e *ChainError) Error() string {
	return fmt.Sprintf("audit chain broken at seq %d: %s", e.Seq, e.Reason)
}

// AuditReport is what a verification saw: the last intact link (the head
// when the chain is whole) and how many events led to it.
type AuditReport struct {
	Head   AuditAnchor  `json:"head"`
	Events int64        `json:"events"`
	Keyed  bool         `json:"keyed"`
	Anchor *AuditAnchor `json:"anchor,omitempty"`
	// From is the seq this check started at: 1 for the whole chain, a
	// checkpoint's seq when it resumed; Read is how many events it read.
	From int64 `json:"from"`
	Read int64 `json:"read"`
}

// AuditVerifier checks a chain one event at a time, so a log of any length
// is verified in constant memory.
type AuditVerifier struct {
	hasher Hasher
	report AuditReport
}

// NewAuditVerifier checks with h and, when anchor is not nil, that the
// chain passes through it.
func NewAuditVerifier(h Hasher, anchor *AuditAnchor) *AuditVerifier {
	return &AuditVerifier{hasher: h, report: AuditReport{Keyed: h.Keyed(), Anchor: anchor, From: 1}}
}

// Add checks the next event; it returns a *ChainError at the first break.
func (v *AuditVerifier) Add(e AuditEvent) error {
	head := v.report.Head
	want := head.Seq + 1
	switch {
	case e.Seq > want:
		return &ChainError{Seq: want, Reason: fmt.Sprintf("missing here: the next stored event is seq %d (deleted or reordered?)", e.Seq)}
	case e.Seq < want:
		return &ChainError{Seq: want, Reason: fmt.Sprintf("found seq %d where seq %d belongs (reordered or duplicated?)", e.Seq, want)}
	case e.PrevHash != head.Hash:
		return &ChainError{Seq: e.Seq, Reason: fmt.Sprintf("prev_hash %.12s does not match the previous event's hash %.12s (deleted, reordered or rewritten?)", e.PrevHash, head.Hash)}
	case v.hasher.Hash(e) != e.Hash:
		why := "edited?"
		if v.hasher.Keyed() {
			why = "edited, or rewritten without the key?"
		}
		return &ChainError{Seq: e.Seq, Reason: fmt.Sprintf("event content does not match its %s hash (%s)", v.hasher, why)}
	}
	if a := v.report.Anchor; a != nil && a.Seq == e.Seq && a.Hash != e.Hash {
		return &ChainError{Seq: e.Seq, Reason: fmt.Sprintf("hash %.12s differs from the anchor's %.12s (the chain was rewritten since it was anchored)", e.Hash, a.Hash)}
	}
	v.report.Head = AuditAnchor{Seq: e.Seq, Hash: e.Hash}
	v.report.Events++
	v.report.Read++
	return nil
}

// Report is what has been verified so far: at a break, the last intact link.
func (v *AuditVerifier) Report() AuditReport { return v.report }

// Finish ends the check: the chain must reach its anchor, else its tail was
// cut, which no hash inside the store can show.
func (v *AuditVerifier) Finish() (AuditReport, error) {
	r := v.report
	if a := r.Anchor; a != nil && r.Head.Seq < a.Seq {
		return r, &ChainError{Seq: r.Head.Seq + 1, Reason: fmt.Sprintf(
			"the log ends at seq %d but was anchored at seq %d: events %d to %d are gone (truncated?)", r.Head.Seq, a.Seq, r.Head.Seq+1, a.Seq)}
	}
	return r, nil
}

// AuditScanner is the part of Audit verification reads.
type AuditScanner interface {
	ScanAudit(ctx context.Context, fromSeq int64, fn func(AuditEvent) error) error
}

// VerifyAuditLog streams the whole log through an AuditVerifier. A break is
// a *ChainError (the report then ends at the last intact link); any other
// error means the log could not be read.
func VerifyAuditLog(ctx context.Context, log AuditScanner, h Hasher, anchor *AuditAnchor) (AuditReport, error) {
	v := NewAuditVerifier(h, anchor)
	if err := log.ScanAudit(ctx, 1, v.Add); err != nil {
		var broken *ChainError
		if errors.As(err, &broken) {
			return v.Report(), broken
		}
		return v.Report(), fmt.Errorf("read audit log: %w", err)
	}
	return v.Finish()
}

// VerifyAudit checks an unkeyed chain held in memory; it names the first
// broken link.
func VerifyAudit(events []AuditEvent) error {
	v := NewAuditVerifier(Hasher{}, nil)
	for _, e := range events {
		if err := v.Add(e); err != nil {
			return err
		}
	}
	_, err := v.Finish()
	return err
}

// AuditCheckpoint is a position of the chain a verification found intact,
// kept so that the next one reads only what came after. Its MAC is the
// audit Hasher over the position: with BACKOUT_AUDIT_KEY a checkpoint
// written without the key is refused, and in any case the event at Seq must
// still carry Hash, so moving the checkpoint over a rewritten event fails.
// (Unkeyed, whoever can rewrite the chain can also write a checkpoint; the
// full verification and anchors are what hold then.)
type AuditCheckpoint struct {
	Seq    int64  `json:"seq"`
	Hash   string `json:"hash"`
	Events int64  `json:"events"`
	MAC    string `json:"mac"`
}

// checkpointMAC reuses the event hash with a distinct action, so no audit
// event's hash can pass for a checkpoint's.
func (h Hasher) checkpointMAC(c AuditCheckpoint) string {
	return h.Hash(AuditEvent{Seq: c.Seq, Action: "audit.checkpoint", PrevHash: c.Hash, Detail: map[string]string{"events": strconv.FormatInt(c.Events, 10)}})
}

// NewAuditCheckpoint signs the head a verification reached.
func NewAuditCheckpoint(h Hasher, rep AuditReport) AuditCheckpoint {
	c := AuditCheckpoint{Seq: rep.Head.Seq, Hash: rep.Head.Hash, Events: rep.Events}
	c.MAC = h.checkpointMAC(c)
	return c
}

// ResumeAuditLog verifies only what follows the checkpoint: its MAC must
// hold, the event at its seq must still be the one verified, and the chain
// must continue from it. An anchor older than the checkpoint cannot be
// checked that way, so the whole chain is verified instead (From says so).
func ResumeAuditLog(ctx context.Context, log AuditScanner, h Hasher, anchor *AuditAnchor, c AuditCheckpoint) (AuditReport, error) {
	if c.Seq < 1 || h.checkpointMAC(c) != c.MAC {
		return AuditReport{Keyed: h.Keyed(), From: c.Seq}, &ChainError{Seq: c.Seq, Reason: "the verification checkpoint does not verify with this key (forged, or written with another key): run a full verification"}
	}
	if anchor != nil && anchor.Seq < c.Seq {
		return VerifyAuditLog(ctx, log, h, anchor)
	}
	v := NewAuditVerifier(h, anchor)
	v.report.From = c.Seq
	atCheckpoint := false
	err := log.ScanAudit(ctx, c.Seq, func(e AuditEvent) error {
		if atCheckpoint {
			return v.Add(e)
		}
		atCheckpoint = true
		v.report.Read++
		if e.Seq != c.Seq || e.Hash != c.Hash || h.Hash(e) != e.Hash {
			return &ChainError{Seq: c.Seq, Reason: "the event at the verification checkpoint changed since it was verified (rewritten?)"}
		}
		v.report.Head, v.report.Events = AuditAnchor{Seq: c.Seq, Hash: c.Hash}, c.Events
		return nil
	})
	if err == nil && !atCheckpoint {
		err = &ChainError{Seq: c.Seq, Reason: fmt.Sprintf("the log ends before the verification checkpoint at seq %d: events were cut (truncated?)", c.Seq)}
	}
	if err != nil {
		var broken *ChainError
		if errors.As(err, &broken) {
			return v.Report(), broken
		}
		return v.Report(), fmt.Errorf("read audit log: %w", err)
	}
	return v.Finish()
}
