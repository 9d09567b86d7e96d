package cli

import (
	"fmt"
	"os"
	"runtime/pprof"
)

// startProfile starts the CPU profile --cpuprofile asks for. It runs once, after flag
// parsing and before the subcommand, so the profile covers the command's work only.
func (e *env) startProfile() error {
	if e.cpuProfile == "" {
		return nil
	}
	f, err := os.Create(e.cpuProfile)
	if err != nil {
		return usageError{fmt.Errorf("--cpuprofile: %w", err)}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return fmt.Errorf("--cpuprofile: %w", err)
	}
	e.profileFile = f
	return nil
}

// stopProfile flushes and closes the profile, if one was started; the profile is
// written whether the command succeeded or not.
func (e *env) stopProfile() {
	if e.profileFile == nil {
		return
	}
	pprof.StopCPUProfile()
	if err := e.profileFile.Close(); err != nil {
		fmt.Fprintf(e.stderr, "refit: --cpuprofile: %v\n", err)
	}
	e.profileFile = nil
}
