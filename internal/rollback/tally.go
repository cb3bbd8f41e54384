package rollback

import (
	"fmt"
	"strings"
)

// MeasurementTally counts one validation check's measurements by outcome.
// Errored measurements are retried and do not use up Count, the
// measurements the check asked for.
type MeasurementTally struct {
	Count        int `json:"count"`
	Successful   int `json:"successful,omitempty"`
	Failed       int `json:"failed,omitempty"`
	Inconclusive int `json:"inconclusive,omitempty"`
	Errors       int `json:"errors,omitempty"`
}

// Taken counts the measurements that produced an outcome (not errors).
func (t MeasurementTally) Taken() int { return t.Successful + t.Failed + t.Inconclusive }

// String is the tally as the validation table shows it: "2/2 passed",
// "1 of 3 failed, 2 passed", "1 of 1 failed, stopped after 1 of 3",
// "3/3 passed, 1 errored", "all 5 errored".
func (t MeasurementTally) String() string {
	taken := t.Taken()
	var parts []string
	switch {
	case taken == 0 && t.Errors > 0:
		return fmt.Sprintf("all %d errored", t.Errors)
	case taken == 0:
		return "no measurement taken"
	case t.Failed == 0 && t.Inconclusive == 0:
		parts = append(parts, fmt.Sprintf("%d/%d passed", t.Successful, taken))
	default:
		for _, p := range []struct {
			n    int
			word string
		}{{t.Failed, "failed"}, {t.Inconclusive, "inconclusive"}, {t.Successful, "passed"}} {
			switch {
			case p.n == 0:
			case len(parts) == 0:
				parts = append(parts, fmt.Sprintf("%d of %d %s", p.n, taken, p.word))
			default:
				parts = append(parts, fmt.Sprintf("%d %s", p.n, p.word))
			}
		}
	}
	if t.Errors > 0 {
		parts = append(parts, fmt.Sprintf("%d errored", t.Errors))
	}
	if t.Count > taken {
		parts = append(parts, fmt.Sprintf("stopped after %d of %d", taken, t.Count))
	}
	return strings.Join(parts, ", ")
}
