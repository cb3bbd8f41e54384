package claims

import (
	"testing"
	"time"
)

func TestMemory(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	c := &Memory{Now: func() time.Time { return now }}
	steps := []struct {
		name    string
		advance time.Duration
		release bool
		key     string
		want    bool
	}{
		{"first claim wins", 0, false, "a", true},
		{"held", 0, false, "a", false},
		{"another key", 0, false, "b", true},
		{"still held just before expiry", 30*time.Second - 1, false, "a", false},
		{"expired", 1, false, "a", true},
		{"released", 0, true, "a", true},
	}
	for _, st := range steps {
		now = now.Add(st.advance)
		if st.release {
			c.Release(st.key)
		}
		got, err := c.Claim(t.Context(), st.key, 30*time.Second)
		if err != nil || got != st.want {
			t.Fatalf("%s: Claim(%s) = %v, %v; want %v", st.name, st.key, got, err, st.want)
		}
	}
}

// TestMemorySweep: expired claims do not pile up beyond what a sweep
// interval holds.
func TestMemorySweep(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	c := &Memory{Now: func() time.Time { return now }}
	for i := range 10000 {
		now = now.Add(10 * time.Millisecond)
		if ok, _ := c.Claim(t.Context(), time.Duration(i).String(), time.Millisecond); !ok {
			t.Fatalf("claim %d refused", i)
		}
	}
	// 100 s of claims, each expired 1 ms later: a sweep a minute leaves at
	// most a minute's worth (6,000).
	if n := len(c.until); n > 6001 {
		t.Fatalf("%d claims kept, want at most a minute's worth", n)
	}
}
