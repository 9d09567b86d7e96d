package testtool

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"
)

// oracleScript lists containers the way the Python loaders do, one request at a time:
// a mode byte ('z' zipfile, 'm' torch's miniz reader, 't' tarfile), an 8-byte length and
// the file's bytes in; one JSON line out. It never extracts or unpickles anything.
const oracleScript = `
import io, json, os, struct, sys, tarfile, zipfile

# The loaders read real files, whose seeks fail where an io.BytesIO would clamp; the
# Go side names the file and removes it if it has to kill this process.
PATH = sys.argv[1]

def stash(data):
    with open(PATH, "wb") as f:
        f.write(data)
    return PATH

def zip_list(data):
    try:
        zf = zipfile.ZipFile(stash(data))
    except Exception as e:
        return {"err": type(e).__name__}
    out = []
    for zi in zf.infolist():
        enc = "utf-8" if zi.flag_bits & 0x800 else "cp437"
        ent = {"name": zi.orig_filename.encode(enc, "surrogateescape").hex(), "off": zi.header_offset,
               "cs": zi.compress_size, "us": zi.file_size, "m": zi.compress_type, "crc": zi.CRC}
        try:
            with zf.open(zi) as f:
                ent["data"] = f._orig_compress_start
        except Exception as e:
            ent["oerr"] = type(e).__name__
        out.append(ent)
    return {"members": out}

def miniz_list(data):
    import torch
    try:
        r = torch._C.PyTorchFileReader(stash(data))
        return {"names": sorted(n.encode("utf-8", "surrogateescape").hex() for n in r.get_all_records())}
    except Exception as e:
        return {"err": str(e).splitlines()[0][:200] if str(e) else type(e).__name__}

def tar_list(data):
    try:
        tf = tarfile.open(fileobj=open(stash(data), "rb"), mode="r:")
    except tarfile.TarError as e:
        return {"err": "open"}
    except Exception as e:
        return {"err": "other:" + type(e).__name__}
    err = None
    while True:
        before = tf.offset
        try:
            if tf.next() is None:
                break
            if tf.offset <= before:
                return {"err": "loop"}  # a negative size sends tarfile backwards, forever
        except tarfile.TarError:
            err = "later"
            break
        except Exception as e:
            err = "other:" + type(e).__name__
            break
    out = [{"name": m.name.encode("utf-8", "surrogateescape").hex(), "type": m.type.hex(), "size": m.size,
            "off": m.offset, "data": m.offset_data} for m in tf.members]
    return {"members": out, "err": err}

def npy_descr(data):
    import ast
    try:
        v = ast.literal_eval(data.decode("utf-8"))
    except Exception as e:
        return {"err": "literal:" + type(e).__name__}
    try:
        import numpy
        return {"obj": bool(numpy.lib.format.descr_to_dtype(v).hasobject)}
    except Exception as e:
        return {"err": "dtype:" + type(e).__name__}

modes = {"z": zip_list, "m": miniz_list, "t": tar_list, "n": npy_descr}
inp, out = sys.stdin.buffer, sys.stdout
while True:
    hdr = inp.read(9)
    if len(hdr) < 9:
        break
    n = struct.unpack("<Q", hdr[1:])[0]
    data = inp.read(n)
    out.write(json.dumps(modes[chr(hdr[0])](data)) + "\n")
    out.flush()
os.unlink(PATH)
`

// Oracle is a running Python process that lists containers as zipfile, miniz (through
// torch) and tarfile do.
type Oracle struct {
	path string // the file Python reads each input from
	mu   sync.Mutex
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Reader
}

var (
	oracleOnce sync.Once
	oracle     *Oracle
	oracleErr  error
)

// RequireOracle starts (once per process) the Python container oracle, or skips the test
// when /usr/bin/python3 is missing (fails when REFIT_REQUIRE_TOOLS=1).
func RequireOracle(t testing.TB) *Oracle {
	t.Helper()
	oracleOnce.Do(func() {
		if _, err := os.Stat(Python); err != nil {
			oracleErr = err
			return
		}
		oracle = &Oracle{}
		oracleErr = oracle.start()
	})
	if oracleErr != nil {
		missing(t, "python3 container oracle", oracleErr)
	}
	return oracle
}

// ErrOracleHung reports that Python did not answer within OracleTimeout (tarfile loops
// forever on some headers); the oracle restarts for the next query.
var ErrOracleHung = errors.New("oracle: python did not answer")

// OracleTimeout bounds one query.
const OracleTimeout = 10 * time.Second

// Query lists data in mode 'z' (zipfile), 'm' (miniz via torch) or 't' (tarfile), or
// classifies a descr literal as numpy.lib.format.descr_to_dtype does (mode 'n'), and
// decodes the JSON answer into v.
func (o *Oracle) Query(mode byte, data []byte, v any) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.cmd == nil {
		if err := o.start(); err != nil {
			return err
		}
	}
	hdr := make([]byte, 9)
	hdr[0] = mode
	binary.LittleEndian.PutUint64(hdr[1:], uint64(len(data)))
	type answer struct {
		line []byte
		err  error
	}
	done := make(chan answer, 1)
	in, out := o.in, o.out
	go func() {
		if _, err := in.Write(append(hdr, data...)); err != nil {
			done <- answer{nil, err}
			return
		}
		line, err := out.ReadBytes('\n')
		done <- answer{line, err}
	}()
	select {
	case a := <-done:
		if a.err != nil {
			return fmt.Errorf("oracle: %w", a.err)
		}
		return json.Unmarshal(a.line, v)
	case <-time.After(OracleTimeout):
		o.cmd.Process.Kill()
		o.cmd.Wait()
		os.Remove(o.path)
		o.cmd = nil
		return ErrOracleHung
	}
}

func (o *Oracle) start() error {
	dir := ""
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		dir = "/dev/shm"
	}
	f, err := os.CreateTemp(dir, "refit-oracle-")
	if err != nil {
		return err
	}
	f.Close()
	o.path = f.Name()
	cmd := exec.Command(Python, "-c", oracleScript, o.path)
	in, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	o.cmd, o.in, o.out = cmd, in, bufio.NewReader(out)
	return nil
}

// HasPythonModule reports whether /usr/bin/python3 imports module, without skipping.
func HasPythonModule(module string) bool {
	probeMu.Lock()
	defer probeMu.Unlock()
	err, ok := probed[module]
	if !ok {
		out, e := exec.Command(Python, "-c", "import "+module).CombinedOutput()
		if e != nil {
			e = &probeError{e, out}
		}
		probed[module], err = e, e
	}
	return err == nil
}
