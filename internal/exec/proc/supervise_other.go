//go:build !linux

package proc

import (
	osexec "os/exec"
	"syscall"
	"time"

	"github.com/backout/backout/internal/exec"
)

// prepare only gives the step its own process group: outside Linux there is
// no parent-death signal, so a step may outlive a bot that dies abruptly
// (a clean shutdown still cancels it through the context). startBy is
// checked here alone, before the fork.
func prepare(cmd *osexec.Cmd, _, _ time.Duration, startBy time.Time) (*startSignal, error) {
	if !startBy.IsZero() && time.Until(startBy) <= 0 {
		return nil, exec.ErrStartBy
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return nil, nil
}

// startSignal: without a supervisor, nothing refuses after the fork.
type startSignal struct{}

func (*startSignal) started()      {}
func (*startSignal) refused() bool { return false }

func lockThread() func() { return func() {} }
