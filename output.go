package refit

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// ErrExists reports an output that exists and may not be overwritten.
var ErrExists = errors.New("refit: output exists (use --force to overwrite)")

// PendingFile is an output being written to a temporary file beside its target.
// Commit renames it into place; Abort removes it. A crash leaves at most a
// hidden temporary file, never a partial target.
type PendingFile struct {
	*os.File
	target string
	done   bool
}

// CreatePending starts writing target. Unless overwrite is set, an existing target is an error.
func CreatePending(target string, overwrite bool) (*PendingFile, error) {
	if _, err := os.Lstat(target); err == nil && !overwrite {
		return nil, fmt.Errorf("%w: %s", ErrExists, target)
	}
	dir, base := filepath.Split(target)
	if dir == "" {
		dir = "."
	}
	if err := CheckOutputDir(dir); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(dir, ".tmp-*-"+base) // keep the extension for format sniffing
	if err != nil {
		return nil, targetError("create", target, err)
	}
	return &PendingFile{File: f, target: target}, nil
}

// Target is the final name.
func (p *PendingFile) Target() string { return p.target }

// Commit closes the file and renames it to its target. The rename makes the complete
// file appear at once; it does not fsync (as cp and torch.save do not), so after a power
// loss the target may be missing or empty, but never a partial file from this process.
// Call Sync first for durability.
func (p *PendingFile) Commit() error {
	if p.done {
		return errors.New("refit: pending file already finished")
	}
	p.done = true
	if err := p.File.Close(); err != nil {
		os.Remove(p.File.Name())
		return targetError("write", p.target, err)
	}
	if err := os.Chmod(p.File.Name(), 0o644); err != nil {
		os.Remove(p.File.Name())
		return targetError("write", p.target, err)
	}
	if err := os.Rename(p.File.Name(), p.target); err != nil {
		os.Remove(p.File.Name())
		return targetError("write", p.target, err)
	}
	return nil
}

// Abort discards the temporary file; it is a no-op after Commit.
func (p *PendingFile) Abort() {
	if p.done {
		return
	}
	p.done = true
	p.File.Close()
	os.Remove(p.File.Name())
}
