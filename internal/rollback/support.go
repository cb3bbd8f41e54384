package rollback

import "time"

// SupportReport is one person saying, from a support channel, that users
// are still affected after a rollback said it had recovered the service.
type SupportReport struct {
	User string    `json:"user"`
	At   time.Time `json:"at"`
}

// Support outcomes of one report.
const (
	SupportCounted   = "counted"
	SupportDuplicate = "duplicate" // this person already reported
	SupportClosed    = "closed"    // the window had closed
	SupportNone      = "none"      // the rollback has no support window
)

// ReportAffected counts who's report at now, at most once per person and
// only within the support window; it says which.
func (r *Record) ReportAffected(who string, now time.Time) string {
	switch {
	case r.SupportUntil.IsZero():
		return SupportNone
	case now.After(r.SupportUntil):
		return SupportClosed
	}
	for _, rep := range r.SupportReports {
		if rep.User == who {
			return SupportDuplicate
		}
	}
	r.SupportReports = append(r.SupportReports, SupportReport{User: who, At: now})
	return SupportCounted
}

// LastSupportReport is when the latest report came (zero without one).
func (r *Record) LastSupportReport() time.Time {
	var last time.Time
	for _, rep := range r.SupportReports {
		if rep.At.After(last) {
			last = rep.At
		}
	}
	return last
}
