package scan

import (
	"strconv"
	"strings"
)

// Level classifies a global a pickle references.
type Level int

const (
	// Safe globals are on the allowlist needed to load tensors and state dicts.
	Safe Level = iota
	// Unknown globals are neither allowlisted nor known to be dangerous, e.g. a user's model
	// class. Loading them runs code from whatever module defines them.
	Unknown
	// Dangerous globals can run commands, import modules, open files or call arbitrary code.
	Dangerous
)

func (l Level) String() string {
	switch l {
	case Safe:
		return "safe"
	case Unknown:
		return "unknown"
	case Dangerous:
		return "dangerous"
	}
	return "Level(" + strconv.Itoa(int(l)) + ")"
}

// MarshalText makes levels read as words in JSON.
func (l Level) MarshalText() ([]byte, error) { return []byte(l.String()), nil }

// safeGlobals is the allowlist: exact "module.name" paths needed to load torch checkpoints,
// NumPy arrays and plain containers.
var safeGlobals = map[string]bool{}

func init() {
	for _, s := range []string{
		"torch._utils._rebuild_tensor", "torch._utils._rebuild_tensor_v2",
		"torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state",
		"torch._utils._rebuild_qtensor", "torch._utils._rebuild_sparse_tensor",
		"torch._utils._rebuild_sparse_csr_tensor", "torch._utils._rebuild_device_tensor_from_numpy",
		"torch._utils._rebuild_meta_tensor_no_storage", "torch._utils._rebuild_nested_tensor",
		"torch.serialization._get_layout", "torch.Size", "torch.device", "torch.Tensor",
		"torch.nn.parameter.Parameter", "torch.storage.UntypedStorage", "torch.storage.TypedStorage",
		"torch.storage._TypedStorage", "torch.UntypedStorage", "torch.TypedStorage",
		"torch.strided", "torch.sparse_coo", "torch.sparse_csr", "torch._mkldnn",
		"torch.contiguous_format", "torch.channels_last", "torch.channels_last_3d", "torch.preserve_format",
		"torch.per_tensor_affine", "torch.per_channel_affine", "torch.per_tensor_symmetric",
		"torch.per_channel_symmetric", "torch.per_channel_affine_float_qparams",
		"collections.OrderedDict", "collections.defaultdict", "collections.Counter", "collections.deque",
		"numpy.core.multiarray._reconstruct", "numpy._core.multiarray._reconstruct",
		"numpy.core.multiarray.scalar", "numpy._core.multiarray.scalar",
		"numpy.core.numeric._frombuffer", "numpy._core.numeric._frombuffer",
		"numpy.dtype", "numpy.ndarray", "numpy.core.multiarray.ndarray",
		"_codecs.encode", "copyreg._reconstructor", "copyreg.__newobj__", "copyreg.__newobj_ex__",
		"builtins.object", "builtins.set", "builtins.frozenset", "builtins.bytearray", "builtins.bytes",
		"builtins.slice", "builtins.complex", "builtins.int", "builtins.float", "builtins.str",
		"builtins.bool", "builtins.list", "builtins.dict", "builtins.tuple", "builtins.range",
	} {
		safeGlobals[s] = true
	}
	for _, t := range []string{"Float", "Double", "Half", "BFloat16", "Long", "Int", "Short",
		"Char", "Byte", "Bool", "ComplexFloat", "ComplexDouble", "QInt8", "QUInt8", "QInt32",
		"QUInt4x2", "QUInt2x4"} {
		safeGlobals["torch."+t+"Storage"] = true
		safeGlobals["torch.cuda."+t+"Storage"] = true
		safeGlobals["torch."+t+"Tensor"] = true
	}
	for _, d := range []string{"float16", "float32", "float64", "bfloat16", "half", "float", "double",
		"complex32", "complex64", "complex128", "cfloat", "cdouble", "chalf", "uint8", "int8", "int16",
		"short", "int32", "int", "int64", "long", "bool", "qint8", "quint8", "qint32", "quint4x2",
		"quint2x4", "float8_e4m3fn", "float8_e5m2", "uint16", "uint32", "uint64"} {
		safeGlobals["torch."+d] = true
	}
}

// dangerousModules: every global in these modules (or their submodules) is dangerous.
var dangerousModules = []string{
	"os", "posix", "nt", "posixpath", "ntpath", "subprocess", "_posixsubprocess", "sys", "runpy",
	"importlib", "imp", "zipimport", "pickle", "_pickle", "cPickle", "pickletools", "dill",
	"cloudpickle", "shutil", "socket", "_socket", "ssl", "webbrowser", "pty", "code", "codeop",
	"ctypes", "_ctypes", "commands", "multiprocessing", "asyncio", "marshal", "types", "pdb", "bdb",
	"timeit", "trace", "cProfile", "profile", "platform", "signal", "tempfile", "urllib", "http",
	"ftplib", "smtplib", "telnetlib", "requests", "httplib", "urllib2", "builtins.__import__",
	"torch.hub", "torch.serialization", "torch.package", "torch.jit", "torch.utils.cpp_extension",
	"torch._C._jit", "torch.ops", "torch.classes", "torch.storage._load_from_bytes",
	"numpy.load", "numpy.lib.npyio", "numpy.ctypeslib", "numpy.f2py", "numpy.testing", "numpy.distutils",
	"functools.partial", "functools.reduce", "operator.attrgetter", "operator.methodcaller",
	"_operator.attrgetter", "_operator.methodcaller", "torch.load", "torch.save",
	"torch._dynamo", "torch._inductor", "torch.compile", "torch.utils.data", "torch._C._jit",
	"torch._C._load_for_lite_interpreter", "torch._C._import_ir_module", "torch.utils.model_zoo",
	"numpy.save", "numpy.savez", "numpy.savez_compressed", "numpy.savetxt", "numpy.loadtxt", "numpy.fromfile",
	"shelve", "dbm", "logging.config", "pydoc", "distutils", "setuptools", "pip", "ensurepip", "venv",
	"gc", "inspect", "socketserver", "SocketServer", "xmlrpc", "xmlrpclib", "smtpd", "imaplib",
	"poplib", "nntplib", "sysconfig", "site", "builtins.type", "ctypes.util", "io.open", "codecs.open",
	"_io", "fileinput", "zipfile", "tarfile", "mmap", "resource", "threading", "_thread", "concurrent",
	"sched", "atexit", "faulthandler", "tracemalloc", "linecache", "_winapi", "winreg", "msvcrt",
}

// dangerousPrefixes: every global whose dotted path starts with one of these is
// dangerous, e.g. torch._C._jit_script_compile (TorchScript compiles and runs code).
var dangerousPrefixes = []string{"torch._C._jit", "torch._C._import", "torch._C._load"}

// dangerousNames are attribute names that are dangerous wherever they are reached from,
// e.g. "builtins.eval" or "torch.serialization.os.system".
var dangerousNames = map[string]bool{
	"eval": true, "exec": true, "execfile": true, "compile": true, "open": true, "__import__": true,
	"getattr": true, "setattr": true, "delattr": true, "globals": true, "locals": true, "vars": true,
	"breakpoint": true, "input": true, "system": true, "popen": true, "Popen": true,
	"check_output": true, "check_call": true, "getoutput": true, "getstatusoutput": true,
	"run_path": true, "run_module": true, "import_module": true, "spawnl": true, "spawnv": true,
	"execl": true, "execv": true, "execve": true, "execvp": true, "fork": true, "startfile": true,
	"exit": true, "quit": true, "help": true,
}

// moduleAliases maps Python 2 module names the unpickler translates (fix_imports).
var moduleAliases = map[string]string{
	"__builtin__": "builtins", "copy_reg": "copyreg", "exceptions": "builtins",
	"cPickle": "pickle", "commands": "subprocess", "urllib2": "urllib", "httplib": "http",
	"SocketServer": "socketserver", "xmlrpclib": "xmlrpc", "UserDict": "collections",
}

// classify returns the level of module.name and a short note explaining it.
// name may be dotted: protocol 4 resolves "a.b" as attribute a then b, so every
// segment is checked.
func classify(module, name string) (Level, string) {
	if m, ok := moduleAliases[module]; ok {
		module = m
	}
	full := module + "." + name
	if safeGlobals[full] {
		return Safe, ""
	}
	for _, p := range dangerousPrefixes {
		if strings.HasPrefix(full, p) {
			return Dangerous, p + "* compiles or loads code"
		}
	}
	segs := strings.Split(full, ".")
	for i := range segs {
		rest := strings.Join(segs[i:], ".")
		for _, d := range dangerousModules {
			if rest == d || strings.HasPrefix(rest, d+".") {
				if i == 0 {
					return Dangerous, "module " + d + " can run code or touch the system"
				}
				return Dangerous, "reaches " + d + " through attribute access"
			}
		}
	}
	for i, s := range segs {
		if i > 0 && dangerousNames[s] {
			return Dangerous, s + " can run code or reach arbitrary objects"
		}
		if i > 0 && len(s) > 4 && strings.HasPrefix(s, "__") && strings.HasSuffix(s, "__") {
			return Dangerous, "dunder attribute " + s + " reaches interpreter internals"
		}
	}
	if segs[0] == "torch" {
		return Unknown, "torch class: only a full torch.load can construct it"
	}
	if segs[0] == "builtins" {
		return Unknown, "builtin not on the allowlist"
	}
	return Unknown, "not on the allowlist: loading imports and runs this module's code"
}
