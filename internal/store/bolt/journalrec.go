package bolt

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"math"

	"github.com/backout/backout/internal/store"
)

// frameHeader is a record's length and CRC-32C, 4 bytes each.
const frameHeader = 8

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// journalRecord is one accepted event as appended to the intake journal.
type journalRecord struct {
	Seq   uint64
	ID    string
	Until int64 // dedup keys' expiry, unix ns
	Keys  []string
	Event store.Event // held in memory until the worker acknowledges it or a move stores it in bolt
	// acked: the worker finished with the event while it was only in the
	// journal, so a move stores its dedup keys but not the event.
	acked bool
}

// Frame payloads are binary, not JSON, so appending one costs a copy of the
// event rather than a JSON encoding (with the payload in base64) of it:
//
//	record:  seq(8) until(8) idLen(2) id keyCount(2) [keyLen(2) key]... event
//	event:   0x01 srcLen(2) source typeLen(2) type timeLen(1) receivedAt(time.AppendBinary) payload
//	ack:     seq(8)=0 ackedSeq(8) idLen(2)=0 keyCount(2)=0
//
// Journals written before the binary event carry the event as the JSON of
// a store.Event (it starts with '{'); replay still reads them. An ack marks
// record ackedSeq as processed, so replay does not put it in the inbox.
const eventBinary = 0x01

func appendFrame(buf []byte, r *journalRecord) ([]byte, error) {
	ev := &r.Event
	if len(r.ID) > math.MaxUint16 || len(r.Keys) > math.MaxUint16 || len(ev.Source) > math.MaxUint16 || len(ev.Type) > math.MaxUint16 {
		return buf, fmt.Errorf("journal record %q: id, source, type or key list too long", r.ID)
	}
	start := len(buf)
	buf = append(buf, make([]byte, frameHeader)...)
	buf = binary.BigEndian.AppendUint64(buf, r.Seq)
	buf = binary.BigEndian.AppendUint64(buf, uint64(r.Until))
	buf = appendString16(buf, r.ID)
	buf = binary.BigEndian.AppendUint16(buf, uint16(len(r.Keys)))
	for _, k := range r.Keys {
		if len(k) > math.MaxUint16 {
			return buf[:start], fmt.Errorf("journal record %q: dedup key too long", r.ID)
		}
		buf = appendString16(buf, k)
	}
	buf = append(buf, eventBinary)
	buf = appendString16(buf, ev.Source)
	buf = appendString16(buf, ev.Type)
	at := len(buf)
	buf, err := ev.ReceivedAt.AppendBinary(append(buf, 0))
	if err != nil {
		return buf[:start], fmt.Errorf("journal record %q: %w", r.ID, err)
	}
	buf[at] = byte(len(buf) - at - 1)
	buf = append(buf, ev.Payload...)
	return sealFrame(buf, start), nil
}

// appendAck appends the marker that record seq was processed.
func appendAck(buf []byte, seq uint64) []byte {
	start := len(buf)
	buf = append(buf, make([]byte, frameHeader)...)
	buf = binary.BigEndian.AppendUint64(buf, 0)
	buf = binary.BigEndian.AppendUint64(buf, seq)
	buf = binary.BigEndian.AppendUint32(buf, 0) // no id, no keys
	return sealFrame(buf, start)
}

// sealFrame writes the length and CRC of the payload that starts after the
// header at start.
func sealFrame(buf []byte, start int) []byte {
	payload := buf[start+frameHeader:]
	binary.BigEndian.PutUint32(buf[start:], uint32(len(payload)))
	binary.BigEndian.PutUint32(buf[start+4:], crc32.Checksum(payload, crcTable))
	return buf
}

func appendString16(buf []byte, s string) []byte {
	buf = binary.BigEndian.AppendUint16(buf, uint16(len(s)))
	return append(buf, s...)
}

// decodeJournal returns the records of the file's current cycle, those an
// ack marker in it names marked acked. A cycle is written from the head of
// the file over the last one (makeRoom), so it ends at the first torn,
// corrupt or zero frame, or at the first record whose Seq is not the one
// after the record before it: within a run every record takes the next Seq
// and groups are written in order, so a record of an earlier cycle, whole
// and with a good CRC, that happens to start where this cycle's last frame
// ends has a lower Seq and is not taken. Its ack markers name records of
// earlier cycles, not in at, and change nothing.
func decodeJournal(data []byte) []journalRecord {
	var out []journalRecord
	at := map[uint64]int{} // seq -> index in out
	for len(data) >= frameHeader {
		n := binary.BigEndian.Uint32(data)
		sum := binary.BigEndian.Uint32(data[4:])
		if n == 0 || uint64(n) > uint64(len(data)-frameHeader) {
			break // zeros: the file was grown this far, nothing written yet
		}
		payload := data[frameHeader : frameHeader+int(n)]
		if crc32.Checksum(payload, crcTable) != sum {
			break
		}
		data = data[frameHeader+int(n):]
		if acked, ok := decodeAck(payload); ok {
			if i, found := at[acked]; found {
				out[i].acked = true
			}
			continue
		}
		r, ok := decodeRecord(payload)
		if !ok || len(out) > 0 && r.Seq != out[len(out)-1].Seq+1 {
			break
		}
		at[r.Seq] = len(out)
		out = append(out, r)
	}
	return out
}

// decodeAck reports whether p is an ack marker and which record it names.
func decodeAck(p []byte) (uint64, bool) {
	if len(p) != 20 || binary.BigEndian.Uint64(p) != 0 || binary.BigEndian.Uint32(p[16:]) != 0 {
		return 0, false
	}
	seq := binary.BigEndian.Uint64(p[8:])
	return seq, seq != 0
}

// decodeRecord parses a payload whose CRC matched; ok is false when it is
// malformed anyway (a bug or a foreign file), which ends the replay there.
func decodeRecord(p []byte) (r journalRecord, ok bool) {
	if len(p) < 16 {
		return r, false
	}
	r.Seq = binary.BigEndian.Uint64(p)
	r.Until = int64(binary.BigEndian.Uint64(p[8:]))
	p = p[16:]
	if r.ID, p, ok = cutString16(p); !ok || r.Seq == 0 || len(p) < 2 {
		return r, false
	}
	n := int(binary.BigEndian.Uint16(p))
	p = p[2:]
	for range n {
		var k string
		if k, p, ok = cutString16(p); !ok {
			return r, false
		}
		r.Keys = append(r.Keys, k)
	}
	r.Event, ok = decodeEvent(p)
	r.Event.ID = r.ID
	return r, ok
}

// decodeEvent reads a record's event, binary or (older journals) JSON.
func decodeEvent(p []byte) (ev store.Event, ok bool) {
	if len(p) > 0 && p[0] == '{' {
		return ev, json.Unmarshal(p, &ev) == nil
	}
	if len(p) == 0 || p[0] != eventBinary {
		return ev, false
	}
	p = p[1:]
	if ev.Source, p, ok = cutString16(p); !ok {
		return ev, false
	}
	if ev.Type, p, ok = cutString16(p); !ok || len(p) < 1 || len(p)-1 < int(p[0]) {
		return ev, false
	}
	n := int(p[0])
	if err := ev.ReceivedAt.UnmarshalBinary(p[1 : 1+n]); err != nil {
		return ev, false
	}
	if p = p[1+n:]; len(p) > 0 {
		ev.Payload = bytes.Clone(p)
	}
	return ev, true
}

func cutString16(p []byte) (string, []byte, bool) {
	if len(p) < 2 {
		return "", p, false
	}
	n := int(binary.BigEndian.Uint16(p))
	if len(p)-2 < n {
		return "", p, false
	}
	return string(p[2 : 2+n]), p[2+n:], true
}
