//go:build unix

package refit

import "syscall"

// openNonblock makes opening a FIFO return at once instead of waiting for a writer
// (the file is then refused as not regular); O_NOCTTY keeps a terminal device from
// becoming the controlling terminal. Reads of regular files ignore both.
const openNonblock = syscall.O_NONBLOCK | syscall.O_NOCTTY
