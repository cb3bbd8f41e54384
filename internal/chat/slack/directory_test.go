package slack

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/backout/backout/internal/chat"
	"github.com/backout/backout/internal/chat/slack/slackfake"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestDirectoryCaching(t *testing.T) {
	fake := slackfake.New()
	t.Cleanup(fake.Close)
	fake.SetGroup("S1", "U1", "U2")
	clock := &fakeClock{t: testNow}
	d := NewDirectory(NewClient(slackfake.BotToken, fake.APIURL(), fake.Client()),
		DirectoryOptions{TTL: 5 * time.Minute, Retry: fastRetry(), Now: clock.Now})
	ctx := waitCtx(t)
	calls := func() int { return len(fake.Calls("usergroups.users.list")) }

	steps := []struct {
		name      string
		advance   time.Duration
		members   []string // group content set before the step
		want      []string
		wantCalls int
	}{
		{"miss fetches", 0, nil, []string{"U1", "U2"}, 1},
		{"hit is cached", time.Minute, []string{"U1", "U2", "U3"}, []string{"U1", "U2"}, 1},
		{"expiry refetches", 5 * time.Minute, nil, []string{"U1", "U2", "U3"}, 2},
		{"fresh again", 4 * time.Minute, nil, []string{"U1", "U2", "U3"}, 2},
	}
	for _, s := range steps {
		clock.Advance(s.advance)
		if s.members != nil {
			fake.SetGroup("S1", s.members...)
		}
		got, err := d.GroupMembers(ctx, "S1")
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if !slices.Equal(got, s.want) || calls() != s.wantCalls {
			t.Fatalf("%s: members %v (calls %d), want %v (calls %d)", s.name, got, calls(), s.want, s.wantCalls)
		}
		got[0] = "mutated" // callers may not corrupt the cache
	}
	if got, _ := d.GroupMembers(ctx, "S1"); got[0] != "U1" {
		t.Fatalf("cache corrupted by caller: %v", got)
	}
}

func TestDirectoryErrors(t *testing.T) {
	fake := slackfake.New()
	t.Cleanup(fake.Close)
	d := NewDirectory(NewClient(slackfake.BotToken, fake.APIURL(), fake.Client()), DirectoryOptions{Retry: fastRetry()})
	ctx := waitCtx(t)
	if _, err := d.GroupMembers(ctx, "S404"); !errors.Is(err, chat.ErrNoSuchGroup) {
		t.Fatalf("unknown group: %v, want ErrNoSuchGroup", err)
	}
	fake.SetGroup("S1", "U1")
	fake.FailError("usergroups.users.list", 1, "missing_scope")
	if _, err := d.GroupMembers(ctx, "S1"); err == nil || errors.Is(err, chat.ErrNoSuchGroup) {
		t.Fatalf("missing_scope: %v", err)
	}
	// Rate limits are waited out like any other call.
	fake.RateLimit("usergroups.users.list", 1, 0)
	if got, err := d.GroupMembers(ctx, "S1"); err != nil || !slices.Equal(got, []string{"U1"}) {
		t.Fatalf("after rate limit: %v %v", got, err)
	}
}

// On-call people come from PagerDuty with an email; the directory finds
// their Slack ID so they can be mentioned.
func TestDirectoryUserByEmail(t *testing.T) {
	fake := slackfake.New()
	t.Cleanup(fake.Close)
	fake.SetUser("U0ONCALL", "olga")
	fake.SetEmail("U0ONCALL", "olga@example.com")
	d := NewDirectory(NewClient(slackfake.BotToken, fake.APIURL(), fake.Client()), DirectoryOptions{Retry: fastRetry()})
	ctx := waitCtx(t)
	id, err := d.UserIDByEmail(ctx, "olga@example.com")
	if err != nil || id != "U0ONCALL" {
		t.Fatalf("UserIDByEmail = %q, %v; want U0ONCALL", id, err)
	}
	if _, err := d.UserIDByEmail(ctx, "nobody@example.com"); err == nil {
		t.Fatal("unknown email resolved")
	}
	if calls := fake.Calls("users.lookupByEmail"); len(calls) != 2 || calls[0].Param("email") != "olga@example.com" {
		t.Fatalf("calls = %+v", calls)
	}
}
