package alerts

import "sync"

// FirstSeen remembers which keys (an unmapped PagerDuty service, an
// unmatched alertname) were already logged: one line each tells the
// operator, a line per event would flood the log (and the disk intake
// syncs on) during a storm. Metrics count every event. The zero value is
// ready; at most maxFirstSeen keys are remembered, after which nothing
// more is logged.
type FirstSeen struct {
	mu   sync.Mutex
	seen map[string]bool
}

// maxFirstSeen bounds the memory of logged keys.
const maxFirstSeen = 1000

// First reports whether key is seen for the first time.
func (f *FirstSeen) First(key string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.seen[key] || len(f.seen) >= maxFirstSeen {
		return false
	}
	if f.seen == nil {
		f.seen = map[string]bool{}
	}
	f.seen[key] = true
	return true
}
