package pytorch

import (
	"fmt"
	"hash/crc32"
	"io"
	"strconv"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/internal/pickle"
	"github.com/refit-ml/refit/internal/ziparchive"
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
	z := ziparchive.NewWriter(w)
	z.Align, z.PaddingID = dataAlignment, paddingExtraID
	if err := z.Bytes(archiveName+"/data.pkl", pkl); err != nil {
		return err
	}
	if err := z.Bytes(archiveName+"/byteorder", []byte("little")); err != nil {
		return err
	}
	for i, t := range m.Tensors {
		name := archiveName + "/data/" + strconv.Itoa(i)
		writeTo := func(w io.Writer) (int64, error) {
			n, err := t.WriteTo(w)
			if err != nil {
				return n, fmt.Errorf("pytorch: tensor %q: %w", t.Name, err)
			}
			if n != t.Size() {
				return n, fmt.Errorf("pytorch: tensor %q: wrote %d bytes, want %d", t.Name, n, t.Size())
			}
			return n, nil
		}
		var err error
		if _, ok := t.Data.(*io.SectionReader); ok {
			// Stored bytes copied from a file: file to file (copy_file_range), or
			// through a buffer that checksums them on the way (refit's shifted copy,
			// which notes the CRC for the source file); the zip writer fills in the
			// local header's CRC afterwards, so the bytes are read a first time only
			// where the copy did not checksum them. The source file knows the CRC
			// (tensor.NoteCRC), so verification reads only the output.
			phase := int64(-1) // same page phase as the source where that keeps torch's alignment
			if off, ok := t.SourceOffset(); ok {
				phase = off % ziparchive.PageSize
			}
			err = z.Copy(name, t.Size(), phase, func() (uint32, error) { return copiedCRC(t) }, writeTo)
		} else {
			err = z.Stream(name, writeTo)
		}
		if err != nil {
			return err
		}
	}
	if err := z.Bytes(archiveName+"/version", []byte("3\n")); err != nil {
		return err
	}
	return z.Close()
}

// copiedCRC is the CRC-32 of a file-backed tensor's bytes: computed by the copy that
// wrote them where it checksummed them (tensor.KnownCRC, not a checksum the file only
// declares), else read straight from the mapping (tensor.Scan) and noted for the file.
func copiedCRC(t *tensor.Tensor) (uint32, error) {
	if crc, declared, ok := t.KnownCRC(); ok && !declared {
		return crc, nil
	}
	var crc uint32
	if err := t.Scan(func(b []byte) error { crc = crc32.Update(crc, crc32.IEEETable, b); return nil }); err != nil {
		return 0, err
	}
	t.NoteCRC(crc)
	return crc, nil
}
