package plan

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"slices"
	"sync"
	"unsafe"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/internal/parallel"
	"github.com/refit-ml/refit/quant/ggml"
	"github.com/refit-ml/refit/tensor"
)

// slabFloats bounds the float32 values one slab holds (4 MiB of them): with the source
// and quantized bytes and the garbage collector's headroom, a slab costs about 3x that
// in peak RSS, and the slow codebook types keep an extra few MiB of tables.
const slabFloats = 1 << 20

// quantData is a tensor's quantized bytes computed slab by slab on read: a run of
// whole rows is read from the source, decoded to float32 and quantized with
// ggml.QuantizeRows. Sequential reads (an encoder's io.Copy) compute each slab once,
// so memory is one slab, not one tensor. Rows are independent in every GGML type, so
// the bytes equal quantizing the whole tensor at once.
type quantData struct {
	src          *tensor.Tensor
	to           tensor.DType
	rows, rowLen int64
	srcRow       int64 // source bytes per row
	dstRow       int64 // output bytes per row
	rowsPerIm    int64 // rows sharing one importance vector
	imatrix      []float32
	slabRows     int64
	threads      int // goroutines per slab; 0 means GOMAXPROCS

	mu       sync.Mutex
	cur      []byte // output bytes of rows [curRow, curRow+len(cur)/dstRow)
	curRow   int64
	srcBuf   []byte
	floatBuf []float32
	outBuf   []byte    // backs cur
	pool     *slabPool // nil: buffers of its own

	// Checking (nil check: off): the blocks of each slab are compared with its source
	// rows as they are produced, in row order.
	check       *TensorCheck
	checkedRows int64       // rows measured so far; a slab is measured when it starts here
	groupStats  []blockDiff // per group of the current slab, summed in order
}

func newQuantData(src *tensor.Tensor, to tensor.DType, imatrix []float32, threads int) (*quantData, error) {
	if len(src.Shape) == 0 {
		return nil, fmt.Errorf("plan: quantizing %q: a scalar has no rows", src.Name)
	}
	rowLen := src.Shape[len(src.Shape)-1]
	n := src.NumElements()
	if rowLen <= 0 || n%rowLen != 0 || rowLen > 1<<31-1 {
		return nil, fmt.Errorf("plan: quantizing %q: bad row length %d", src.Name, rowLen)
	}
	dstRow, err := ggml.RowSize(to, int(rowLen))
	if err != nil {
		return nil, fmt.Errorf("plan: quantizing %q to %v: %w", src.Name, to, err)
	}
	rows := n / rowLen
	srcRow, err := tensor.ByteSize(src.DType, tensor.Shape{rowLen})
	if err != nil || srcRow*rows != src.Size() {
		return nil, fmt.Errorf("plan: quantizing %q: %d bytes for %d rows of %v", src.Name, src.Size(), rows, src.DType)
	}
	q := &quantData{src: src, to: to, rows: rows, rowLen: rowLen, srcRow: srcRow, dstRow: int64(dstRow), rowsPerIm: rows, threads: threads}
	if len(imatrix) > 0 {
		mats := int64(len(imatrix)) / rowLen
		if mats <= 0 || mats*rowLen != int64(len(imatrix)) || rows%mats != 0 {
			return nil, fmt.Errorf("plan: quantizing %q: importance matrix of %d values for rows of %d", src.Name, len(imatrix), rowLen)
		}
		q.rowsPerIm = rows / mats
		q.imatrix = append([]float32(nil), imatrix...)
	}
	q.slabRows = max(1, slabFloats/rowLen)
	return q, nil
}

func (q *quantData) Size() int64 { return q.rows * q.dstRow }

// ReadAt computes the slab holding off (if it is not the current one) and copies from it.
func (q *quantData) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("plan: negative offset %d", off)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	n := 0
	for n < len(p) {
		pos := off + int64(n)
		if pos >= q.Size() {
			return n, io.EOF
		}
		row := pos / q.dstRow
		if q.cur == nil || row < q.curRow || row >= q.curRow+int64(len(q.cur))/q.dstRow {
			if err := q.compute(row); err != nil {
				return n, err
			}
		}
		n += copy(p[n:], q.cur[pos-q.curRow*q.dstRow:])
	}
	if off+int64(n) == q.Size() {
		// The tensor has been read to its end (an encoder is done with it): drop the
		// buffers, so a model of many tensors holds one slab, not one per tensor.
		q.pool.put(q.srcBuf, q.floatBuf, q.outBuf)
		q.cur, q.srcBuf, q.floatBuf, q.outBuf = nil, nil, nil, nil
	}
	return n, nil
}

// compute quantizes the slab starting at row (which never crosses an importance
// vector's boundary). The slab is cut into groups of rows that do not depend on the
// thread count; each group is read, decoded, quantized and (when checking) measured by
// one goroutine while it is in its cache, and goroutines take groups as they go.
func (q *quantData) compute(row int64) error {
	end := min(row+q.slabRows, q.rows, (row/q.rowsPerIm+1)*q.rowsPerIm)
	nrows := end - row
	nsrc, nf, ndst := nrows*q.srcRow, nrows*q.rowLen, nrows*q.dstRow
	direct := q.src.DType == tensor.F32 && littleEndian // read straight into the float32 buffer
	if q.floatBuf == nil {
		q.srcBuf, q.floatBuf, q.outBuf = q.pool.get()
	}
	if !direct && int64(cap(q.srcBuf)) < nsrc {
		q.srcBuf = make([]byte, nsrc)
	}
	if int64(cap(q.floatBuf)) < nf {
		q.floatBuf = make([]float32, nf)
	}
	if int64(cap(q.outBuf)) < ndst {
		q.outBuf = make([]byte, ndst)
	}
	x, out := q.floatBuf[:nf], q.outBuf[:ndst]
	var sb []byte
	if direct {
		sb = unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(x))), 4*nf)
	} else {
		sb = q.srcBuf[:nsrc]
	}
	var im []float32
	if q.imatrix != nil {
		k := row / q.rowsPerIm
		im = q.imatrix[k*q.rowLen : (k+1)*q.rowLen]
	}
	q.cur, q.curRow = nil, row
	g := max(1, groupElements/q.rowLen) // rows per group
	ngroups := int((nrows + g - 1) / g)
	errs := make([]error, ngroups)
	checking := q.check != nil && row == q.checkedRows
	if checking {
		q.groupStats = slices.Grow(q.groupStats[:0], ngroups)[:ngroups]
	}
	// Each group reads its own rows where the source is a file (pread is safe and cheap
	// to run in parallel); other sources (lazy tensors, which compute on first read)
	// are read whole, once, here.
	groupReads := fileBacked(q.src.Data)
	if !groupReads {
		if err := readFull(q.src, sb, row*q.srcRow); err != nil {
			return err
		}
	}
	parallel.ForChunks(q.threads, ngroups, 1, func(lo, hi int) {
		for k := lo; k < hi; k++ {
			r0, r1 := int64(k)*g, min(int64(k+1)*g, nrows)
			xs, ys := x[r0*q.rowLen:r1*q.rowLen], out[r0*q.dstRow:r1*q.dstRow]
			ss := sb[r0*q.srcRow : r1*q.srcRow]
			if groupReads {
				if err := readFull(q.src, ss, (row+r0)*q.srcRow); err != nil {
					errs[k] = err
					continue
				}
			}
			if !direct {
				if err := q.decode(xs, ss); err != nil {
					errs[k] = fmt.Errorf("plan: decoding %q: %w", q.src.Name, err)
					continue
				}
			}
			if err := ggml.QuantizeRows(q.to, ys, xs, int(r1-r0), int(q.rowLen), im, 1); err != nil {
				errs[k] = fmt.Errorf("plan: quantizing %q: %w", q.src.Name, err)
				continue
			}
			if checking {
				scratch := scratchPool.Get().(*[]float32)
				st, err := measure(scratch, xs, ys, q.to)
				scratchPool.Put(scratch)
				if err != nil {
					errs[k] = fmt.Errorf("plan: checking %q: %w", q.src.Name, err)
					continue
				}
				q.groupStats[k] = st
			}
		}
	})
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if checking {
		for _, st := range q.groupStats {
			q.check.add(st)
		}
		q.check.CRC = crc32.Update(q.check.CRC, castagnoli, out)
		q.checkedRows = end
	}
	q.cur = out
	return nil
}

// scratchPool holds the buffers measure decodes into, one per goroutine at a time.
var scratchPool = sync.Pool{New: func() any { return new([]float32) }}

// groupElements is the work one goroutine takes at a time: a few hundred KiB of
// float32 values, which stay in its cache from decoding to checking.
const groupElements = 1 << 16

// decode converts source rows to float32.
func (q *quantData) decode(x []float32, sb []byte) error {
	switch {
	case q.src.DType == tensor.F16:
		convertF16(x, sb)
		return nil
	case q.src.DType == tensor.BF16:
		convertBF16(x, sb)
		return nil
	case q.src.DType.Quantized():
		return tensor.Dequantize(x, sb, q.src.DType, 1)
	}
	return tensor.ToFloat32(x, sb, q.src.DType)
}

// convertBF16Go widens bfloat16 values: the float32 with the same upper 16 bits.
func convertBF16Go(dst []float32, src []byte) {
	src = src[:2*len(dst)]
	for i := range dst {
		dst[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(src[2*i:])) << 16)
	}
}

// slabPool lends slab buffers to the tensors of one model in turn. An encoder reads
// the tensors one after another, so they share one set instead of each allocating
// (and faulting in) fresh pages; tensors read at the same time get sets of their own.
type slabPool struct {
	mu   sync.Mutex
	free []slabSet
}

type slabSet struct {
	src    []byte
	floats []float32
	out    []byte
}

// get returns a free set, or nothing (the caller allocates). A nil pool has none.
func (p *slabPool) get() ([]byte, []float32, []byte) {
	if p == nil {
		return nil, nil, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.free) == 0 {
		return nil, nil, nil
	}
	s := p.free[len(p.free)-1]
	p.free = p.free[:len(p.free)-1]
	return s.src, s.floats, s.out
}

func (p *slabPool) put(src []byte, floats []float32, out []byte) {
	if p == nil || floats == nil {
		return
	}
	p.mu.Lock()
	p.free = append(p.free, slabSet{src, floats, out})
	p.mu.Unlock()
}

func readFull(src *tensor.Tensor, p []byte, off int64) error {
	if n, err := src.Data.ReadAt(p, off); n != len(p) {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("plan: reading %q: %w", src.Name, err)
	}
	return nil
}

// fileBacked reports whether r is a section of a file (as GGUF and safetensors
// decoders give), whose ReadAt runs in parallel without interference.
func fileBacked(r io.ReaderAt) bool {
	sr, ok := r.(*io.SectionReader)
	if !ok {
		return false
	}
	outer, _, _ := sr.Outer()
	switch outer.(type) {
	case *refit.MappedFile, *os.File:
		return true
	}
	return false
}
