package slack

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	slackgo "github.com/slack-go/slack"

	"github.com/backout/backout/internal/chat"
)

// groupLister is the Web API the Directory needs.
type groupLister interface {
	GetUserGroupMembersContext(ctx context.Context, group string, opts ...slackgo.GetUserGroupMembersOption) ([]string, error)
	GetUserByEmailContext(ctx context.Context, email string) (*slackgo.User, error)
}

// DirectoryOptions tune the Directory; zero values take defaults.
type DirectoryOptions struct {
	// TTL is how long a group's members are trusted (default 5 min).
	TTL     time.Duration
	Retry   RetryOptions
	Metrics Metrics
	// Now is the cache clock; nil means time.Now.
	Now func() time.Time
}

// Directory is chat.Directory over usergroups.users.list, cached per group.
// A failed refresh is an error rather than stale members: approvals depend
// on it, and someone removed from a group must stop counting.
type Directory struct {
	api   groupLister
	retry *retrier
	ttl   time.Duration
	now   func() time.Time

	mu    sync.Mutex
	cache map[string]groupEntry
}

type groupEntry struct {
	members []string
	expires time.Time
}

var _ chat.Directory = (*Directory)(nil)

// NewDirectory returns a Directory using api (see NewClient).
func NewDirectory(api *slackgo.Client, opts DirectoryOptions) *Directory {
	return newDirectory(api, opts)
}

func newDirectory(api groupLister, opts DirectoryOptions) *Directory {
	setDefault(&opts.TTL, 5*time.Minute)
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Directory{
		api: api, retry: newRetrier(opts.Retry, opts.Metrics),
		ttl: opts.TTL, now: opts.Now, cache: map[string]groupEntry{},
	}
}

// GroupMembers lists the user IDs of a Slack user group. An unknown group
// is chat.ErrNoSuchGroup.
func (d *Directory) GroupMembers(ctx context.Context, usergroupID string) ([]string, error) {
	d.mu.Lock()
	e, ok := d.cache[usergroupID]
	d.mu.Unlock()
	if ok && d.now().Before(e.expires) {
		return slices.Clone(e.members), nil
	}
	var members []string
	err := d.retry.do(ctx, "usergroups.users.list", func(ctx context.Context) error {
		var err error
		members, err = d.api.GetUserGroupMembersContext(ctx, usergroupID)
		return err
	})
	if se, ok := errors.AsType[slackgo.SlackErrorResponse](err); ok && se.Err == "no_such_subteam" {
		return nil, fmt.Errorf("slack user group %s: %w", usergroupID, chat.ErrNoSuchGroup)
	}
	if err != nil {
		return nil, fmt.Errorf("slack user group %s: %w", usergroupID, err)
	}
	d.mu.Lock()
	d.cache[usergroupID] = groupEntry{members: slices.Clone(members), expires: d.now().Add(d.ttl)}
	d.mu.Unlock()
	return members, nil
}

// UserIDByEmail finds a Slack user by email (users.lookupByEmail; needs the
// users:read.email scope), so on-call people from PagerDuty can be mentioned.
func (d *Directory) UserIDByEmail(ctx context.Context, email string) (string, error) {
	u, err := d.api.GetUserByEmailContext(ctx, email)
	if err != nil {
		return "", fmt.Errorf("users.lookupByEmail: %w", err)
	}
	return u.ID, nil
}
