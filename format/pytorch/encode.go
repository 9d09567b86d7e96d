package pytorch

import (
	"archive/zip"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"strconv"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/internal/pickle"
	"github.com/refit-ml/refit/tensor"
)

const (
	// dataAlignment is where torch's PyTorchStreamWriter places record data (kFieldAlignment).
	dataAlignment = 64
	// archiveName is the top-level folder torch.save uses for a file object.
	archiveName = "archive"
	// paddingExtraID is the zip extra field id torch uses for alignment padding ("FB").
	paddingExtraID = 0x4246
)

// EncodeOptions controls Encode. The zero value writes what torch.save writes.
type EncodeOptions struct{}

// countWriter counts the bytes written through it.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// Encode writes m as torch.save would write an OrderedDict of its tensors (a state dict):
// a zip archive with archive/data.pkl, one stored member archive/data/<i> per tensor
// aligned to 64 bytes, archive/version and archive/byteorder. Tensors stream one at a time.
// Metadata is not written (a state dict holds tensors only).
func Encode(w io.Writer, m *refit.Model, opts *EncodeOptions) error {
	if err := m.CheckNames(); err != nil {
		return err
	}
	keys := make([]any, len(m.Tensors))
	vals := make([]any, len(m.Tensors))
	for i, t := range m.Tensors {
		st := storageName(t.DType)
		if st == "" {
			return refit.Unsupportedf("pytorch", "tensor %q: torch has no %v storage", t.Name, t.DType)
		}
		n := t.NumElements()
		want, err := tensor.ByteSize(t.DType, t.Shape)
		if err != nil || want != t.Size() {
			return fmt.Errorf("pytorch: tensor %q: %v %v holds %d bytes", t.Name, t.DType, t.Shape, t.Size())
		}
		shape := make(pickle.Tuple, len(t.Shape))
		stride := make(pickle.Tuple, len(t.Shape))
		s := int64(1)
		for d := len(t.Shape) - 1; d >= 0; d-- {
			shape[d] = t.Shape[d]
			stride[d] = s
			s *= t.Shape[d]
		}
		pid := pickle.PersistentID{Value: pickle.Tuple{"storage", pickle.Global{Module: "torch", Name: st}, strconv.Itoa(i), "cpu", n}}
		keys[i] = t.Name
		vals[i] = pickle.Reduce{
			Func: pickle.Global{Module: "torch._utils", Name: "_rebuild_tensor_v2"},
			Args: pickle.Tuple{pid, int64(0), shape, stride, false,
				pickle.OrderedDict{}},
		}
	}
	pkl, err := pickle.Marshal(pickle.OrderedDict{Keys: keys, Values: vals})
	if err != nil {
		return err
	}
	cw := &countWriter{w: w}
	zw := zip.NewWriter(cw)
	// pending is the data descriptor zip.Writer writes for the previous member when the
	// next one starts: 16 bytes, or 24 for a member of 4 GiB or more.
	pending := int64(0)
	put := func(name string, write func(io.Writer) error) error {
		if err := zw.Flush(); err != nil {
			return err
		}
		full := archiveName + "/" + name
		hdr := &zip.FileHeader{Name: full, Method: zip.Store}
		// Local header: 30 fixed bytes, the name, then the extra field, padded so data is aligned.
		start := cw.n + pending + 30 + int64(len(full))
		pad := (dataAlignment - (start+4)%dataAlignment) % dataAlignment
		extra := binary.LittleEndian.AppendUint16(nil, paddingExtraID)
		extra = binary.LittleEndian.AppendUint16(extra, uint16(pad))
		hdr.Extra = append(extra, make([]byte, pad)...)
		fw, err := zw.CreateHeader(hdr)
		if err != nil {
			return err
		}
		if err := zw.Flush(); err != nil {
			return err
		}
		before := cw.n
		if err := write(fw); err != nil {
			return err
		}
		if err := zw.Flush(); err != nil {
			return err
		}
		pending = 16
		if cw.n-before >= math.MaxUint32 {
			pending = 24
		}
		return nil
	}
	bytesOf := func(b []byte) func(io.Writer) error {
		return func(w io.Writer) error { _, err := w.Write(b); return err }
	}
	if err := put("data.pkl", bytesOf(pkl)); err != nil {
		return err
	}
	if err := put("byteorder", bytesOf([]byte("little"))); err != nil {
		return err
	}
	for i, t := range m.Tensors {
		err := put("data/"+strconv.Itoa(i), func(w io.Writer) error {
			n, err := t.WriteTo(w)
			if err != nil {
				return fmt.Errorf("pytorch: tensor %q: %w", t.Name, err)
			}
			if n != t.Size() {
				return fmt.Errorf("pytorch: tensor %q: wrote %d bytes, want %d", t.Name, n, t.Size())
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	if err := put("version", bytesOf([]byte("3\n"))); err != nil {
		return err
	}
	return zw.Close()
}
