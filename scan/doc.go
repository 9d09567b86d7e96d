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
// Containers are read the way the loaders read them, not the way a Go reader would:
//
//   - Zip (torch.load, numpy.load, Keras): internal/ziparchive builds both readings the
//     loaders have, miniz's (torch: absolute offsets, the zip64 record the locator points
//     at, entry count, names compared ignoring case) and Python zipfile's (numpy, Keras:
//     offsets corrected for a prefix, the zip64 record before the locator, entries by
//     directory size, names cut at NUL). Every member of either reading is scanned; an
//     archive the two read differently, or that is ambiguous within one (a name twice, a
//     NUL in a name, overlapping members, a local header naming a member differently, two
//     *.pkl names equal but for case) is Dangerous: what runs depends on who opens it. A
//     sweep for local headers then finds members no directory lists.
//   - Tar (torch's legacy loader): internal/tararchive lists members as Python's tarfile
//     does, in every dialect (V7, ustar, GNU, pax); every member with data is scanned. When
//     tarfile fails, torch.load unpickles the file from byte 0, so a tar is also walked from
//     byte 0 as a pickle.
//   - .npy, alone or in .npz: the header's descr is parsed as numpy parses it
//     (internal/npyheader); a dtype that is or holds an object, in any spelling ('O',
//     'object', '\x4f', 'f4,O', object fields of structured dtypes), or that cannot be
//     classified, makes numpy unpickle the data, which is then walked.
//   - Anything else is walked as pickles from byte 0 (torch.load and numpy.load unpickle
//     files that are neither zip nor npy), up to any zip that follows (polyglots, junk
//     prefixes); raw and concatenated pickles are walked to EOF, including after STOP;
//     legacy torch files have their raw storage bytes skipped by their recorded sizes.
//
// Which bytes are pickles: members named *.pkl or "pickle", legacy tar "storages" and
// "tensors", and npy object arrays are walked strictly. Every other member is walked too,
// whatever its name and protocol (0 to 5): one that starts with PROTO is speculative (its
// errors are reported only if it referenced a global); one that does not is a guess, kept
// only if it names a real-looking global (dotted identifiers), which random tensor bytes
// practically never spell.
//
// ScanNoCode covers formats that hold no pickles (safetensors, GGUF, ONNX, TFLite, TF
// checkpoints): their report says so, after walking byte 0 as a pickle for polyglots.
//
// What "safe" means: every global that any byte range a listed loader could unpickle
// references is on the allowlist, and the container is read the same way by every loader.
// Out of scope: code that is not a pickle (TorchScript code/, Keras Lambda layers'
// marshalled bytecode, ONNX custom operator libraries), compression methods the scanner
// cannot read (reported as errors), and what the allowlisted torch functions do with
// hostile arguments.
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
