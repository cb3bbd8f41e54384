//go:build linux

package bolt

import (
	"os"
	"syscall"
)

// fdatasync flushes f's data and the size change that covers it, without
// the inode times fsync would also write.
func fdatasync(f *os.File) error { return syscall.Fdatasync(int(f.Fd())) }
