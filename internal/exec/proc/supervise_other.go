//go:build !linux

package proc

import (
	osexec "os/exec"
	"syscall"
	"time"
)

// prepare only gives the step its own process group: outside Linux there is
// no parent-death signal, so a step may outlive a bot that dies abruptly
// (a clean shutdown still cancels it through the context).
func prepare(cmd *osexec.Cmd, _, _ time.Duration) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

func lockThread() func() { return func() {} }
