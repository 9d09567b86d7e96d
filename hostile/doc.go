// Package hostile holds Refit's corpus of hostile inputs and the tests that run every
// command on them: files crafted against the real loaders (torch.load, numpy.load, Python's
// zipfile and tarfile, llama.cpp) to hide code from the scanner, exhaust memory or time, or
// read outside a model's folder. The threat model is in SECURITY.md at the repository root.
//
// Each class of attack has a generator (testdata/gen/hostile_*.py or a Go function in the
// test that needs it) and a test here that states what every command must do with it:
// scan must flag it, inspect and convert must refuse it or read exactly what the reference
// loader reads, run must fail within its budget. The refit binary runs in a child process
// under an address-space limit and a timeout, so a crash, a hang or runaway memory fails
// the test instead of the test process.
package hostile
