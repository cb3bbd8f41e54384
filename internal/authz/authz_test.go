package authz

import (
	"context"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/backout/backout/internal/rollback"
)

// dir is a hand-written directory: two services with their own owners,
// approvers and override groups.
type dir struct{}

var (
	owners    = map[string][]string{"strict": {"sam"}, "lax": {"lou"}}
	approvers = map[string][]string{"strict": {"ann"}, "lax": {"lee"}}
	members   = map[string][]string{"sre": {"sue"}}
)

func (dir) InGroup(_ context.Context, user, group string) (bool, error) {
	return slices.Contains(members[group], user), nil
}
func (dir) Owners(service string) []string { return owners[service] }
func (dir) Approver(_ context.Context, service, user string) (bool, error) {
	return slices.Contains(approvers[service], user), nil
}
func (dir) Overrider(ctx context.Context, service, user string) (bool, error) {
	if slices.Contains(owners[service], user) {
		return true, nil
	}
	return dir{}.Approver(ctx, service, user)
}

func TestDecide(t *testing.T) {
	one := Subject{Services: []string{"strict"}, Requester: "rex", ID: "RB-1"}
	bundle := Subject{Services: []string{"strict", "lax"}, Requester: "rex", ID: "RB-2"}
	tests := []struct {
		action  Action
		subject Subject
		user    string
		allowed bool
	}{
		// The requester may steer what they asked for, not freeze or override.
		{Abort, one, "rex", true}, {Resume, one, "rex", true}, {Freeze, one, "rex", false}, {OverrideCheck, one, "rex", false},
		// Owners and approvers of the service.
		{Freeze, one, "sam", true}, {Unfreeze, one, "ann", true}, {DrillNow, one, "ann", true}, {OverrideGuard, one, "sam", true},
		// Someone else's owner or approver, and nobody at all.
		{Freeze, one, "lou", false}, {DrillNow, one, "lee", false}, {Abort, one, "nobody", false}, {Propose, one, "nobody", true},
		// A bundle needs each service's own say-so…
		{Resume, bundle, "lee", false}, {OverrideCheck, bundle, "lee", false}, {Freeze, bundle, "sam", false},
		// …except to stop it.
		{Abort, bundle, "lee", true}, {Pause, bundle, "sam", true}, {Abort, bundle, "nobody", false},
	}
	m := New(nil)
	for _, tt := range tests {
		d, err := m.Decide(context.Background(), dir{}, tt.user, tt.action, tt.subject)
		if err != nil {
			t.Fatal(err)
		}
		if d.Allowed != tt.allowed {
			t.Errorf("%s %s on %v: allowed %v, want %v (%s)", tt.user, tt.action, tt.subject.Services, d.Allowed, tt.allowed, d.Refusal)
		}
		if !d.Allowed && !strings.Contains(d.Refusal.String(), "Who may:") {
			t.Errorf("%s %s: refusal %q does not say who may", tt.user, tt.action, d.Refusal)
		}
	}
}

func TestPermissionsOverrideDefaults(t *testing.T) {
	m := New(map[string][]string{"freeze": {"group:sre"}, "propose": {"owners", "approvers"}})
	cases := []struct {
		user   string
		action Action
		want   bool
	}{{"sue", Freeze, true}, {"sam", Freeze, false}, {"nobody", Propose, false}, {"ann", Propose, true}}
	for _, c := range cases {
		d, err := m.Decide(context.Background(), dir{}, c.user, c.action, Subject{Services: []string{"strict"}})
		if err != nil || d.Allowed != c.want {
			t.Errorf("%s %s = %v %v, want %v", c.user, c.action, d.Allowed, err, c.want)
		}
	}
	if d, _ := m.Decide(context.Background(), dir{}, "sam", Freeze, Subject{Services: []string{"strict"}}); !strings.Contains(d.Refusal.String(), "members of sre") {
		t.Errorf("refusal %q does not name the group", d.Refusal)
	}
}

// TestRefusalNamesKeysAsCode: a refusal names the configuration keys that
// decide it as code, typed, so chat shows them as code; everything else in
// it, service names and ids included, is plain.
func TestRefusalNamesKeysAsCode(t *testing.T) {
	one := Subject{Services: []string{"strict"}, Requester: "rex", ID: "RB-1"}
	ghost := Subject{Services: []string{"ghost"}, ID: "RB-2"} // no owners
	key := rollback.Code("permissions.override_check")
	tests := []struct {
		rules   map[string][]string
		subject Subject
		want    rollback.Words
	}{
		{nil, one, rollback.Say("You may not override a failing check of RB-1 (strict). Who may: those the approval policy of strict lets override (its ",
			rollback.Code("override:"), " groups, else its owners and approvers) (", key, ").")},
		{map[string][]string{"override_check": {"requester", "group:sre"}}, one,
			rollback.Say("You may not override a failing check of RB-1 (strict). Who may: its requester (@rex); members of sre (", key, ").")},
		{map[string][]string{"override_check": {"owners"}}, ghost,
			rollback.Say("You may not override a failing check of RB-2 (ghost): nobody is allowed to by ", key, ".")},
	}
	for _, tt := range tests {
		d, err := New(tt.rules).Decide(context.Background(), dir{}, "nobody", OverrideCheck, tt.subject)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(d.Refusal, tt.want) {
			t.Errorf("refusal under %v:\n got %#v\nwant %#v", tt.rules, d.Refusal, tt.want)
		}
	}
}

// TestValidate: each problem names its action and, when a principal is at
// fault, its index in the list, so the config can point at it.
func TestValidate(t *testing.T) {
	got := Validate(map[string][]string{
		"freeze": {"owners"},
		"nuke":   {"anyone"},
		"abort":  {"owners", "group:x", "admins"},
		"pause":  {},
	}, func(g string) bool { return g == "sre" })
	want := []Problem{
		{"abort", 1, `permissions.abort: unknown group "x"`},
		{"abort", 2, `permissions.abort: unknown principal "admins" (want anyone, requester, owners, approvers, overriders or group:NAME)`},
		{"nuke", -1, `permissions: unknown action "nuke" (known: ` + names(Actions) + `)`},
		{"pause", -1, `permissions.pause: names nobody; write [anyone] or a principal`},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Validate =\n%+v\nwant\n%+v", got, want)
	}
}
