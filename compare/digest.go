package compare

import (
	"context"
	"errors"
	"hash/crc32"
	"math"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/tensor"
)

// CRC returns the CRC-32 (IEEE, as zip uses) of t's bytes. Data that is a range of a
// memory-mapped file (refit.MappedFile, as refit.Open and refit.OpenAs read) is hashed
// straight from the mapping, a window at a time; other data is read in 1 MiB chunks.
// The IEEE polynomial runs on the CPU's carry-less multiply (PCLMULQDQ), several
// GB/s, faster than reading the bytes from the page cache.
func CRC(ctx context.Context, t *tensor.Tensor) (uint32, error) {
	var crc uint32
	err := t.Scan(func(b []byte) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		crc = crc32.Update(crc, crc32.IEEETable, b)
		return nil
	})
	return crc, err
}

// crcReaders is how many goroutines crcs reads with: the re-read of an output (page
// faults on its mapping, the CRC) runs on two cores where there are two, at no extra
// CPU time (pt -> safetensors of 1 GiB on the loaded 2-core EPYC: 0.72-0.73 CPU s
// with one reader or two); more would contend for memory bandwidth.
const crcReaders = 2

// crcs returns the CRC-32 of every tensor, reading up to crcReaders of them at once.
// A CRC the file holding a tensor computed from its bytes earlier (tensor.KnownCRC,
// not one the file only declares: refit.PendingOutput's read-back of a written
// output) is taken as is.
func crcs(ctx context.Context, ts []*tensor.Tensor) ([]uint32, error) {
	out := make([]uint32, len(ts))
	errs := make([]error, len(ts))
	var next atomic.Int64
	read := func() {
		for {
			i := int(next.Add(1) - 1)
			if i >= len(ts) {
				return
			}
			if crc, declared, ok := ts[i].KnownCRC(); ok && !declared {
				out[i] = crc
				continue
			}
			out[i], errs[i] = CRC(ctx, ts[i])
			if errs[i] != nil {
				next.Store(int64(len(ts))) // stop the others after their current tensor
				return
			}
		}
	}
	var wg sync.WaitGroup
	for range min(crcReaders, runtime.GOMAXPROCS(0), len(ts)) - 1 {
		wg.Go(read)
	}
	read()
	wg.Wait()
	return out, errors.Join(errs...)
}

// Record collects, while an encoder writes cast tensors, the CRC-32 of every cast
// tensor's bytes and its error against the source values, measured on the very bytes
// written (see Watcher). WrittenRecorded then checks the re-read output against the
// CRCs instead of casting again. It is safe for concurrent use by encoders that write
// tensors in parallel.
type Record struct {
	mu      sync.Mutex
	tensors map[string]recorded
}

type recorded struct {
	crc      uint32
	size     int64
	measured bool // diff holds the error figures
	diff     TensorDiff
}

// NewRecord returns an empty Record.
func NewRecord() *Record { return &Record{tensors: map[string]recorded{}} }

// Watcher returns the watcher for the cast of src to type to (tensor.CastWatched).
func (r *Record) Watcher(src *tensor.Tensor, to tensor.DType) tensor.CastWatcher {
	return &castWatch{rec: r, src: src, to: to}
}

// lookup returns what was recorded for a tensor written completely.
func (r *Record) lookup(name string) (recorded, bool) {
	if r == nil {
		return recorded{}, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	v, ok := r.tensors[name]
	return v, ok
}

// castWatch measures one cast tensor as its chunks are written.
type castWatch struct {
	rec   *Record
	src   *tensor.Tensor
	to    tensor.DType
	crc   uint32
	size  int64
	ok    bool // every chunk came with its source values
	diff  TensorDiff
	stats floatStats
	back  []float32
}

func (w *castWatch) Begin() {
	s := w.src
	w.crc, w.size, w.ok, w.stats = 0, 0, true, floatStats{}
	w.diff = TensorDiff{Name: s.Name, DTypeA: s.DType, DTypeB: w.to, ShapeA: s.Shape, ShapeB: s.Shape,
		Types: s.DType.String() + "->" + w.to.String()}
	w.rec.mu.Lock()
	delete(w.rec.tensors, s.Name) // a second WriteTo replaces the first
	w.rec.mu.Unlock()
}

func (w *castWatch) Chunk(src []float32, dst []byte) {
	w.crc = crc32.Update(w.crc, crc32.IEEETable, dst)
	w.size += int64(len(dst))
	if src == nil || !w.ok {
		w.ok = false
		return
	}
	if cap(w.back) < len(src) {
		w.back = make([]float32, len(src))
	}
	if err := w.stats.addCast(&w.diff, src, dst, w.to, w.back[:len(src)]); err != nil {
		w.ok = false
	}
}

func (w *castWatch) End() {
	// Without source values (a float64 source) there are no figures:
	// WrittenRecorded then measures the tensor against the source as Written does.
	if w.ok {
		w.stats.finish(&w.diff)
	}
	w.rec.mu.Lock()
	w.rec.tensors[w.src.Name] = recorded{crc: w.crc, size: w.size, measured: w.ok, diff: w.diff}
	w.rec.mu.Unlock()
	w.back = nil
}

// WrittenRecorded is Written in one read of the output: every tensor of got (re-read
// from the file) must have want's name, type and shape, and bytes whose CRC-32
// matches the CRC-32 of want's bytes: the CRC rec recorded as a cast tensor was
// written; else the CRC the source file knows for those bytes (tensor.KnownCRC: a
// stored zip member's declared CRC, or one the encoder computed in a first pass),
// with the source bytes read again only when that one disagrees; else the CRC of the
// source bytes, read again. A cast tensor's error
// against base comes from rec (measured on the written bytes as they were produced)
// or, when rec has no figures for it, from comparing base with got as Written does.
// A mismatch is a *MismatchError.
func WrittenRecorded(ctx context.Context, base, want, got *refit.Model, rec *Record) (*WrittenReport, error) {
	gotByName, baseByName := ByName(got), ByName(base)
	var missing, extra []string
	inWant := make(map[string]bool, len(want.Tensors))
	for _, t := range want.Tensors {
		inWant[t.Name] = true
		if gotByName[t.Name] == nil {
			missing = append(missing, t.Name)
		}
	}
	for _, t := range got.Tensors {
		if !inWant[t.Name] {
			extra = append(extra, t.Name)
		}
	}
	if len(missing) > 0 || len(extra) > 0 {
		return nil, mismatch("output tensors differ from input: missing %v, extra %v", missing, extra)
	}
	gots := make([]*tensor.Tensor, len(want.Tensors))
	for i, w := range want.Tensors {
		g := gotByName[w.Name]
		if g.DType != w.DType || !g.Shape.Equal(w.Shape) || g.Size() != w.Size() {
			return nil, mismatch("tensor %s: written as %v %v, re-read as %v %v", w.Name, w.DType, w.Shape, g.DType, g.Shape)
		}
		gots[i] = g
	}
	gotCRCs, err := crcs(ctx, gots)
	if err != nil {
		return nil, err
	}
	r := &WrittenReport{MinCos: 1}
	for i, w := range want.Tensors {
		g, gotCRC := gots[i], gotCRCs[i]
		rc, ok := rec.lookup(w.Name)
		if ok && rc.size != w.Size() {
			ok = false
		}
		wantCRC, fromFile := rc.crc, false
		if !ok {
			if wantCRC, _, fromFile = w.KnownCRC(); !fromFile {
				if wantCRC, err = CRC(ctx, w); err != nil {
					return nil, err
				}
			}
		}
		if gotCRC != wantCRC && fromFile {
			// The source file's own checksum (a zip member's, or one computed by the
			// encoder's first pass) disagrees: the source's bytes decide.
			if wantCRC, err = CRC(ctx, w); err != nil {
				return nil, err
			}
		}
		if gotCRC != wantCRC {
			return nil, mismatch("tensor %s differs from what was written (CRC-32 %08x, want %08x)", w.Name, gotCRC, wantCRC)
		}
		d := TensorDiff{Name: w.Name, DTypeA: w.DType, DTypeB: g.DType, ShapeA: w.Shape, ShapeB: g.Shape,
			Exact: true, Cosine: 1, Types: w.DType.String()}
		if orig := baseByName[w.Name]; orig != nil && orig.DType != g.DType {
			if ok && rc.measured {
				d = rc.diff
			} else if d, err = TensorsContext(ctx, orig, g); err != nil {
				return nil, err
			}
		}
		r.Tensors = append(r.Tensors, d)
		if d.Exact {
			r.Exact++
		}
		r.MaxAbs = math.Max(r.MaxAbs, d.MaxAbs)
		r.MinCos = math.Min(r.MinCos, d.Cosine)
	}
	return r, nil
}
