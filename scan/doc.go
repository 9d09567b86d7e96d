// Package scan reports every global (class or function) the pickles in a file reference,
// classified Safe, Unknown or Dangerous, without executing anything.
//
// Pickles are interpreted symbolically: an opcode walker keeps constant strings, globals and
// short tuples on a stack and in the memo, so a STACK_GLOBAL whose module and name were stored
// with PUT and fetched with GET, duplicated, or written with protocol-0 text opcodes is still
// resolved. A STACK_GLOBAL whose operands are not constant strings, an extension-registry
// code (EXT1/2/4), a call of something that is not a global (say, what getattr returned) and
// a BUILD on a global (monkey-patching) are Dangerous. A dangerous global is reported where
// it is referenced and again where it is called.
//
// Levels: Safe is an exact allowlist (torch rebuild functions, storages, dtypes, torch.Size,
// collections.OrderedDict, numpy reconstruction, a few builtins); Dangerous is a denylist of
// modules (os, subprocess, sys, builtins.eval/exec/getattr, importlib, pickle, socket, ctypes,
// torch.load/hub/jit, functools.partial, operator.attrgetter/methodcaller...) and of attribute
// names, checked on every dotted segment so "torch.serialization.os.system" is Dangerous.
// Everything else is Unknown; torch classes such as torch.nn.modules.linear.Linear are
// Unknown with a note (loading them needs a full torch.load, which runs their code).
//
// Containers: raw pickles and concatenated pickles (all are walked until EOF, including
// after STOP); legacy torch files (the raw storage bytes after the fifth pickle are skipped
// by their recorded sizes, and anything after them is walked again); zip archives, found by
// scanning for local file headers so that junk before the archive, a truncated or broken
// tail, or a member missing from the central directory hides nothing (central-directory
// entries the scan skipped are added; a member is named as the central directory names it,
// and a different local-header name is an error); a file that does not start with an
// archive signature is walked as pickles from byte 0 up to any zip, because torch.load
// would unpickle it (pickle/zip polyglots, junk prefixes); tar (legacy torch), .npy with
// object arrays, and any nesting of these. Zip members are scanned as pickles when named *.pkl or when they start
// with PROTO; the latter are speculative: their parse errors are reported only if they
// referenced a global.
//
// Errors: Report.Errors lists what could not be scanned (a broken pickle, after reporting
// the globals seen before it; unsupported compression; encryption; caps). A report with
// errors does not prove a file clean.
//
// Memory and caps: stored members are read through io.SectionReader views; deflated members
// are streamed. Declared lengths never size an allocation: strings over 64 KiB are skipped,
// not buffered. Stack (128 Ki values), memo (2 Mi entries), nesting depth (MaxDepth),
// total inflated bytes (MaxInflated) and compressed nested archives buffered in memory
// (MaxInMemory) are capped; exceeding a cap is reported as an error.
//
// Pickle opcodes: https://github.com/python/cpython/blob/main/Lib/pickletools.py
package scan
