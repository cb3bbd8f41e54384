//go:build !linux

package bolt

import "os"

// fdatasync falls back to fsync where fdatasync is not offered.
func fdatasync(f *os.File) error { return f.Sync() }
