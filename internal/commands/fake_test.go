package commands

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/backout/backout/internal/chat"
	"github.com/backout/backout/internal/incident"
	"github.com/backout/backout/internal/rollback"
)

// fakeLifecycle is a hand-written Lifecycle: canned answers from its fields,
// and a record of each call ("Vote RB-7") so tests can see what a command
// asked for. err, when set, is every I/O call's error.
type fakeLifecycle struct {
	services    map[string]time.Duration // catalog: service -> stable_after
	rollbacks   map[string]*rollback.Record
	open        []*rollback.Record
	history     []*rollback.Record
	deploys     []*rollback.Deploy
	failure     rollback.Words // every change's failure
	err         error
	calls       []string
	lastVote    incident.VoteRequest
	lastPropose incident.ProposeRequest
	stableAfter time.Duration // the last one KnownGood was given
}

var _ Lifecycle = (*fakeLifecycle)(nil)

func (f *fakeLifecycle) call(format string, args ...any) error {
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
	return f.err
}

func (f *fakeLifecycle) Propose(_ context.Context, _ incident.Actor, req incident.ProposeRequest) (*rollback.Record, rollback.Words, error) {
	f.lastPropose = req
	if err := f.call("Propose %v %s", req.Services, req.Release); err != nil || f.failure != nil {
		return nil, f.failure, err
	}
	r := &rollback.Record{ID: "RB-1", Channel: "C0OPS"}
	for _, s := range req.Services {
		r.Services = append(r.Services, rollback.ServiceChange{Service: s,
			Current: rollback.Release{Version: "2"}, Target: rollback.Release{Version: "1"}})
	}
	return r, nil, nil
}

func (f *fakeLifecycle) Vote(_ context.Context, _ incident.Actor, req incident.VoteRequest) (rollback.Words, error) {
	f.lastVote = req
	return f.failure, f.call("Vote %s %v", req.ID, req.Approve)
}

func (f *fakeLifecycle) Abort(_ context.Context, _ incident.Actor, id, reason string) (rollback.Words, error) {
	return f.failure, f.call("Abort %s %s", id, reason)
}

func (f *fakeLifecycle) Resume(_ context.Context, _ incident.Actor, id string) (rollback.Words, error) {
	return f.failure, f.call("Resume %s", id)
}

func (f *fakeLifecycle) Pause(_ context.Context, _ incident.Actor, id string) (rollback.Words, error) {
	return f.failure, f.call("Pause %s", id)
}

func (f *fakeLifecycle) ReportAffected(_ context.Context, _ incident.Actor, id string) (rollback.Words, error) {
	return f.failure, f.call("ReportAffected %s", id)
}

func (f *fakeLifecycle) SignGate(_ context.Context, _ incident.Actor, id, key string) (rollback.Words, error) {
	return f.failure, f.call("SignGate %s %s", id, key)
}

func (f *fakeLifecycle) Override(_ context.Context, _ incident.Actor, id, check, reason string) (rollback.Words, error) {
	return f.failure, f.call("Override %s %s %s", id, check, reason)
}

func (f *fakeLifecycle) SetFreeze(_ context.Context, _ incident.Actor, service, reason string) (rollback.Words, error) {
	return f.failure, f.call("SetFreeze %s %s", service, reason)
}

func (f *fakeLifecycle) ClearFreeze(_ context.Context, _ incident.Actor, service string) (rollback.Words, error) {
	return f.failure, f.call("ClearFreeze %s", service)
}

func (f *fakeLifecycle) Plan(_ context.Context, req incident.PlanRequest) ([]rollback.ServiceChange, string, rollback.Words, error) {
	return nil, "", f.failure, f.call("Plan %v %s", req.Services, req.Version)
}

func (f *fakeLifecycle) ServiceReadiness(_ context.Context, service string) ([]rollback.CheckResult, rollback.Words, error) {
	return nil, f.failure, f.call("ServiceReadiness %s", service)
}

func (f *fakeLifecycle) Rollback(_ context.Context, id string) (*rollback.Record, rollback.Words, error) {
	if err := f.call("Rollback %s", id); err != nil {
		return nil, nil, err
	}
	if r, ok := f.rollbacks[id]; ok {
		return r, nil, nil
	}
	return nil, rollback.Say("There is no rollback " + id + "."), nil
}

func (f *fakeLifecycle) Votes(_ context.Context, id string) ([]rollback.Vote, error) {
	return nil, f.call("Votes %s", id)
}

func (f *fakeLifecycle) StepLog(_ context.Context, id string) ([]rollback.StepEvent, error) {
	return nil, f.call("StepLog %s", id)
}

func (f *fakeLifecycle) OpenRollbacks(context.Context) ([]*rollback.Record, error) {
	return f.open, f.call("OpenRollbacks")
}

func (f *fakeLifecycle) History(_ context.Context, service string, limit int) ([]*rollback.Record, error) {
	return f.history, f.call("History %s %d", service, limit)
}

func (f *fakeLifecycle) Deploys(_ context.Context, service string, limit int) ([]*rollback.Deploy, error) {
	return f.deploys, f.call("Deploys %s %d", service, limit)
}

// KnownGood trusts the deploy's own mark, and keeps the stable_after it was
// given so a test can see that the dispatcher passed the catalog's.
func (f *fakeLifecycle) KnownGood(deploys []*rollback.Deploy, i int, stableAfter time.Duration) bool {
	f.stableAfter = stableAfter
	return deploys[i].Good
}

func (f *fakeLifecycle) KnownService(name string) bool {
	_, ok := f.services[name]
	return ok
}

// Services lists the fake catalog, sorted, since map order is random.
func (f *fakeLifecycle) Services() []string {
	return slices.Sorted(maps.Keys(f.services))
}

func (f *fakeLifecycle) StableAfter(service string) (time.Duration, bool) {
	d, ok := f.services[service]
	return d, ok
}

// fakeReporter and fakeDriller record that they were asked.
type fakeReporter struct{ asked []string }

func (r *fakeReporter) Registry(_ context.Context, service string, since time.Duration) (chat.Message, error) {
	r.asked = append(r.asked, fmt.Sprintf("Registry %s %s", service, since))
	return chat.TextMessage(chat.Plain("registry")), nil
}

type fakeDriller struct{ asked []string }

func (d *fakeDriller) Describe(_ context.Context, service string) (chat.Message, string, error) {
	d.asked = append(d.asked, "Describe "+service)
	return chat.TextMessage(chat.Plain("drills of " + service)), "", nil
}

func (d *fakeDriller) RunNow(_ context.Context, _ incident.Actor, service string) (*rollback.Record, rollback.Words, error) {
	d.asked = append(d.asked, "RunNow "+service)
	return &rollback.Record{ID: "RB-2", Channel: "C0OPS"}, nil, nil
}
