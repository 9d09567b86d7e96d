//go:build unix

package pathtest

import "syscall"

// Mkfifo makes a FIFO named name.
func Mkfifo(name string) error { return syscall.Mkfifo(name, 0o644) }
