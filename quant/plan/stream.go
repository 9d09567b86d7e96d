package plan

import (
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/refit-ml/refit/internal/parallel"
	"github.com/refit-ml/refit/quant/ggml"
	"github.com/refit-ml/refit/tensor"
)

// slabFloats bounds the float32 values one slab holds (8 MiB of them).
const slabFloats = 2 << 20

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
		q.cur, q.srcBuf, q.floatBuf = nil, nil, nil
	}
	return n, nil
}

// compute quantizes the slab starting at row (which never crosses an importance
// vector's boundary).
func (q *quantData) compute(row int64) error {
	end := min(row+q.slabRows, q.rows, (row/q.rowsPerIm+1)*q.rowsPerIm)
	nrows := end - row
	nsrc, nf, ndst := nrows*q.srcRow, nrows*q.rowLen, nrows*q.dstRow
	if int64(cap(q.srcBuf)) < nsrc {
		q.srcBuf = make([]byte, nsrc)
	}
	if int64(cap(q.floatBuf)) < nf {
		q.floatBuf = make([]float32, nf)
	}
	if int64(cap(q.cur)) < ndst {
		q.cur = make([]byte, ndst)
	}
	sb, x, out := q.srcBuf[:nsrc], q.floatBuf[:nf], q.cur[:ndst]
	if n, err := q.src.Data.ReadAt(sb, row*q.srcRow); n != len(sb) {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("plan: reading %q: %w", q.src.Name, err)
	}
	if err := q.decode(x, sb, nrows); err != nil {
		return fmt.Errorf("plan: decoding %q: %w", q.src.Name, err)
	}
	var im []float32
	if q.imatrix != nil {
		k := row / q.rowsPerIm
		im = q.imatrix[k*q.rowLen : (k+1)*q.rowLen]
	}
	q.cur, q.curRow = nil, row
	if err := ggml.QuantizeRows(q.to, out, x, int(nrows), int(q.rowLen), im, q.threads); err != nil {
		return fmt.Errorf("plan: quantizing %q: %w", q.src.Name, err)
	}
	q.cur = out
	return nil
}

// decode converts nrows source rows to float32, split by rows across q.threads
// goroutines (the conversion is as costly as the fastest quantizers).
func (q *quantData) decode(x []float32, sb []byte, nrows int64) error {
	conv := func(x []float32, sb []byte) error { return tensor.ToFloat32(x, sb, q.src.DType) }
	switch {
	case q.src.DType == tensor.F16:
		conv = func(x []float32, sb []byte) error { convertF16(x, sb); return nil }
	case q.src.DType.Quantized():
		// One goroutine per piece: the split over rows is the only fan-out.
		conv = func(x []float32, sb []byte) error { return tensor.Dequantize(x, sb, q.src.DType, 1) }
	}
	var (
		mu   sync.Mutex
		errs []error
	)
	grain := int(max(1, (64<<10)/q.rowLen))
	parallel.For(q.threads, int(nrows), grain, func(lo, hi int) {
		if err := conv(x[int64(lo)*q.rowLen:int64(hi)*q.rowLen], sb[int64(lo)*q.srcRow:int64(hi)*q.srcRow]); err != nil {
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
		}
	})
	return errors.Join(errs...)
}
