package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/refit-ml/refit"
)

// manifestSuffix names a finished job's manifest: OUT.refit.json beside OUT.
const manifestSuffix = ".refit.json"

// manifestVersion is the manifest layout; a reader skips other versions.
const manifestVersion = 1

// manifestPath is the manifest beside output (a file or a folder).
func manifestPath(output string) string {
	return strings.TrimRight(output, `/`) + manifestSuffix
}

// batchManifest records one finished batch job: what ran on what, and what it made.
// It is written after the output is in place, so its presence means the job finished.
type batchManifest struct {
	Version  int            `json:"refit_batch_manifest"`
	Cmd      string         `json:"cmd"`
	Args     []string       `json:"args"`
	Job      int            `json:"job"`   // index in the jobs file
	Shard    string         `json:"shard"` // INDEX/COUNT that ran it
	Refit    string         `json:"refit_version"`
	Host     string         `json:"host,omitempty"`
	Finished string         `json:"finished"` // UTC, RFC 3339
	Seconds  float64        `json:"seconds"`
	Inputs   []fileHash     `json:"inputs"`
	Output   string         `json:"output"`
	Outputs  []fileHash     `json:"output_files"` // the output file, or every file of an output folder
	Figures  map[string]any `json:"figures,omitempty"`
}

// fileHash is one file's path, size and SHA-256.
type fileHash struct {
	Path   string `json:"path"`
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
}

// hashPaths hashes each path: a file as itself, a folder as its regular files in
// lexical order (Refit's temporary files left out). Reads stream through SHA-256.
func hashPaths(ctx context.Context, paths []string) ([]fileHash, error) {
	var out []fileHash
	for _, p := range paths {
		hs, err := hashPath(ctx, p)
		if err != nil {
			return nil, err
		}
		out = append(out, hs...)
	}
	return out, nil
}

func hashPath(ctx context.Context, p string) ([]fileHash, error) {
	st, err := refit.StatPath(p)
	if err != nil {
		return nil, err
	}
	if refit.IsRemote(p) {
		return hashRemote(ctx, p, st.IsDir())
	}
	if !st.IsDir() {
		h, err := hashFile(ctx, p)
		if err != nil {
			return nil, err
		}
		return []fileHash{h}, nil
	}
	var out []fileHash
	err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || strings.HasPrefix(d.Name(), refit.TempPrefix) {
			return nil
		}
		if d.Type()&fs.ModeSymlink != 0 {
			if st, err := os.Stat(path); err != nil || !st.Mode().IsRegular() {
				return nil
			}
		} else if !d.Type().IsRegular() {
			return nil
		}
		h, err := hashFile(ctx, path)
		if err != nil {
			return err
		}
		out = append(out, h)
		return nil
	})
	return out, err
}

func hashFile(ctx context.Context, p string) (fileHash, error) {
	f, err := os.Open(p)
	if err != nil {
		return fileHash{}, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.CopyBuffer(h, ctxReader{ctx, f}, make([]byte, 1<<20))
	if err != nil {
		return fileHash{}, fmt.Errorf("hashing %s: %w", p, err)
	}
	return fileHash{Path: p, Bytes: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// rangeCopier streams a range of a remote object with one request.
type rangeCopier interface {
	CopyRange(w io.Writer, off, n int64) (int64, error)
}

// hashRemote hashes an object, or every object under a folder URL (a prefix), reading
// each with one streamed request where the store allows.
func hashRemote(ctx context.Context, p string, dir bool) ([]fileHash, error) {
	if !dir {
		h, err := hashRemoteFile(ctx, p)
		if err != nil {
			return nil, err
		}
		return []fileHash{h}, nil
	}
	fsys, err := refit.RemoteFS(p)
	if err != nil {
		return nil, err
	}
	base := strings.TrimSuffix(p, "/")
	var out []fileHash
	err = fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		h, err := hashRemoteFile(ctx, base+"/"+name)
		if err != nil {
			return err
		}
		out = append(out, h)
		return nil
	})
	return out, err
}

func hashRemoteFile(ctx context.Context, p string) (fileHash, error) {
	f, err := refit.OpenFile(p)
	if err != nil {
		return fileHash{}, err
	}
	defer f.Close()
	h := sha256.New()
	var n int64
	if rc, ok := f.(rangeCopier); ok {
		n, err = rc.CopyRange(ctxWriter{ctx, h}, 0, f.Size())
	} else {
		n, err = io.CopyBuffer(h, ctxReader{ctx, io.NewSectionReader(f, 0, f.Size())}, make([]byte, 1<<20))
	}
	if err != nil {
		return fileHash{}, fmt.Errorf("hashing %s: %w", p, err)
	}
	return fileHash{Path: p, Bytes: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// ctxWriter fails its writes once ctx is done.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}

// maxManifest caps the manifest a batch reads: a real one is a few KB.
const maxManifest = 16 << 20

// readSmall reads a whole local or remote file of at most limit bytes.
func readSmall(name string, limit int64) ([]byte, error) {
	f, err := refit.OpenFile(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if f.Size() > limit {
		return nil, fmt.Errorf("%w: %s is %d bytes, more than a manifest or jobs file can be (%d)", refit.ErrFormat, name, f.Size(), limit)
	}
	b := make([]byte, f.Size())
	if err := refit.ReadFullAt(f, b, 0); err != nil {
		return nil, err
	}
	return b, nil
}

// sameHashes compares two hash lists, sizes first.
func sameHashes(a, b []fileHash) bool {
	return slices.Equal(a, b)
}

// readManifest reads the manifest of output; a missing one is (nil, nil).
func readManifest(output string) (*batchManifest, error) {
	b, err := readSmall(manifestPath(output), maxManifest)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return parseManifest(b)
}

func parseManifest(b []byte) (*batchManifest, error) {
	var m batchManifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%w: batch manifest: %v", refit.ErrFormat, err)
	}
	if m.Version != manifestVersion {
		return nil, fmt.Errorf("%w: batch manifest version %d (this Refit reads %d)", refit.ErrUnsupported, m.Version, manifestVersion)
	}
	return &m, nil
}

// writeManifest writes m beside its output atomically (a pending file renamed into place).
func writeManifest(m *batchManifest) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	pf, err := refit.CreatePending(manifestPath(m.Output), true)
	if err != nil {
		return err
	}
	defer pf.Abort()
	if _, err := pf.Write(append(b, '\n')); err != nil {
		return err
	}
	return pf.Commit()
}

// manifestMatches reports whether m still describes job: same command and arguments,
// inputs with the recorded hashes, and the output present with its recorded hash.
// why says what differs when it does not.
func manifestMatches(ctx context.Context, m *batchManifest, j *batchJob) (ok bool, why string, err error) {
	if m.Cmd != j.Cmd || !slices.Equal(m.Args, j.Args) {
		return false, "the manifest is for another command", nil
	}
	// Sizes first: a changed size needs no hashing.
	for _, list := range [][]fileHash{m.Inputs, m.Outputs} {
		for _, h := range list {
			st, err := refit.StatPath(h.Path)
			if err != nil {
				return false, fmt.Sprintf("%s is missing", h.Path), nil
			}
			if st.Size() != h.Bytes {
				return false, fmt.Sprintf("%s changed size", h.Path), nil
			}
		}
	}
	in, err := hashPaths(ctx, j.Inputs)
	if err != nil {
		return false, "", err
	}
	if !sameHashes(in, m.Inputs) {
		return false, "an input changed", nil
	}
	out, err := hashPath(ctx, j.Output)
	if err != nil {
		return false, "", err
	}
	if !sameHashes(out, m.Outputs) {
		return false, "the output changed", nil
	}
	return true, "", nil
}

// jobFigures keeps a command's --json result small: scalar fields, nested objects
// flattened with dotted keys, lists left out (per-tensor rows belong to the command's
// own report, not to a manifest).
func jobFigures(stdout []byte) map[string]any {
	stdout = bytes.TrimSpace(stdout)
	if len(stdout) == 0 {
		return nil
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(stdout))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil
	}
	out := map[string]any{}
	var walk func(prefix string, v any, depth int)
	walk = func(prefix string, v any, depth int) {
		switch x := v.(type) {
		case map[string]any:
			if depth > 2 {
				return
			}
			for k, val := range x {
				key := k
				if prefix != "" {
					key = prefix + "." + k
				}
				walk(key, val, depth+1)
			}
		case []any, nil:
		default:
			if prefix != "" {
				out[prefix] = x
			}
		}
	}
	walk("", v, 0)
	if len(out) == 0 {
		return nil
	}
	return out
}
