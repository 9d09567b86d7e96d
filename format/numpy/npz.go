package numpy

import (
	"archive/zip"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"strings"
	"time"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/internal/ziparchive"
	"github.com/refit-ml/refit/tensor"
)

// memberSuffix ends the name of every array in a .npz archive.
const memberSuffix = ".npy"

// DEFLATE expands by at most about 1032:1, so a larger declared size is a lie, checked
// before anything is allocated.
const (
	maxDeflateRatio = 1032
	maxDeflateSlack = 1 << 10
)

// zipTime is the modification time of every member Refit writes, so that the same
// tensors always give the same bytes. It is the earliest time a zip can record.
var zipTime = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)

// openZip opens r as a zip archive, mapping errors to refit.ErrFormat; an archive that
// loaders would read differently is refused (ziparchive.ErrAmbiguous).
func openZip(r io.ReaderAt, size int64) (*ziparchive.Reader, error) {
	zr, err := ziparchive.NewReader(r, size)
	if err != nil {
		return nil, refit.WrapErrorf("numpy", -1, err, "reading zip directory")
	}
	return zr, nil
}

// decodeNPZ reads the headers of every member of a .npz archive. Stored members
// are views of r; deflated members decompress when their tensor is read, each time
// charging budget with the bytes they inflate to.
func decodeNPZ(r io.ReaderAt, size int64, budget *refit.Budget) (*refit.Model, error) {
	zr, err := openZip(r, size)
	if err != nil {
		return nil, err
	}
	m := &refit.Model{Format: "numpy"}
	seen := make(map[string]bool, len(zr.Members))
	for _, f := range zr.Members {
		name, ok := strings.CutSuffix(f.Name, memberSuffix)
		if !ok || name == "" {
			return nil, refit.Unsupportedf("numpy", "member %q of the .npz archive is not a .npy array", f.Name)
		}
		if err := refit.CheckLocalPath("numpy", "member", f.Name); err != nil {
			return nil, err
		}
		if seen[name] {
			return nil, refit.Errorf("numpy", -1, "duplicate member %q", f.Name)
		}
		seen[name] = true
		t, err := decodeMember(zr, r, size, f, name, budget)
		if err != nil {
			return nil, err
		}
		m.Tensors = append(m.Tensors, t)
	}
	return m, nil
}

func decodeMember(zr *ziparchive.Reader, r io.ReaderAt, size int64, f *ziparchive.Member, name string, budget *refit.Budget) (*tensor.Tensor, error) {
	if f.Flags&0x1 != 0 {
		return nil, refit.Unsupportedf("numpy", "member %q is encrypted", f.Name)
	}
	usize, csize := f.Size, f.CompressedSize
	off := f.DataOffset
	if off < 0 || off > size || csize > size-off {
		return nil, refit.WrapErrorf("numpy", off, io.ErrUnexpectedEOF, "member %q: %d compressed bytes run past the end of the archive", f.Name, csize)
	}
	memberErr := func(err error) error { return fmt.Errorf("numpy: member %q: %w", f.Name, err) }
	switch f.Method {
	case ziparchive.Store:
		if csize != usize {
			return nil, refit.Errorf("numpy", off, "stored member %q: compressed size %d != size %d", f.Name, csize, usize)
		}
		sec := io.NewSectionReader(r, off, usize)
		h, err := ReadHeader(sec, usize)
		if err != nil {
			return nil, memberErr(err)
		}
		data := io.NewSectionReader(sec, h.DataOffset, h.DataSize)
		noteDataCRC(sec, f, h)
		return newTensor(name, h, func() ([]byte, error) {
			buf := make([]byte, h.DataSize)
			// ReadAt, not Read: the closure runs each time the tensor is pulled.
			if n, err := data.ReadAt(buf, 0); n != len(buf) {
				return nil, memberErr(unexpectedEOF(err))
			}
			return buf, nil
		}, data)
	case ziparchive.Deflate, ziparchive.BZip2: // numpy.load reads both through zipfile
		if f.Method == ziparchive.Deflate && usize > maxDeflateSlack && (usize-maxDeflateSlack)/maxDeflateRatio > csize {
			return nil, refit.Errorf("numpy", off, "deflated member %q: %d bytes cannot inflate to the declared %d", f.Name, csize, usize)
		}
		// The declared size bounds everything read: the header must declare exactly
		// the data that fills the member, and reading stops there, so a member that
		// inflates beyond its declared size (a zip bomb) is never expanded.
		rc, err := zr.Open(f)
		if err != nil {
			return nil, memberErr(refit.WrapErrorf("numpy", off, err, "opening"))
		}
		h, err := readHeader(refit.LimitInflated("numpy", f.Name, rc, usize), usize)
		rc.Close()
		if err != nil {
			return nil, memberErr(err)
		}
		return newTensor(name, h, func() ([]byte, error) { return inflate(zr, f, h, budget) }, nil)
	default:
		return nil, refit.Unsupportedf("numpy", "member %q uses zip compression method %d", f.Name, f.Method)
	}
}

// noteDataCRC derives the CRC-32 of a stored member's array data from the member's
// declared CRC-32 and its header's, and notes it for the file (tensor.NoteDeclaredCRC):
// a conversion's verification then compares its copy against it instead of reading the
// source again. Nothing is checked here.
func noteDataCRC(member *io.SectionReader, f *ziparchive.Member, h *Header) {
	if h.DataOffset <= 0 || h.DataOffset > 1<<20 || h.DataOffset+h.DataSize != f.Size {
		return
	}
	hdr := make([]byte, h.DataOffset)
	if n, _ := member.ReadAt(hdr, 0); n != len(hdr) {
		return
	}
	data := io.NewSectionReader(member, h.DataOffset, h.DataSize)
	tensor.NoteDeclaredCRC(data, ziparchive.SuffixCRC(f.CRC32, crc32.ChecksumIEEE(hdr), h.DataSize))
}

// inflate decompresses a member's array data, checking its length and CRC-32. Its bytes
// are charged to budget, and stay charged: the caller may keep them, and Go frees them
// only at a later collection, so a model whose deflated members are read again and
// again (convert reads them once to write and once to verify) meets the budget sooner.
func inflate(zr *ziparchive.Reader, f *ziparchive.Member, h *Header, budget *refit.Budget) ([]byte, error) {
	if err := budget.Charge(h.DataSize, "inflated .npz members"); err != nil {
		return nil, fmt.Errorf("numpy: member %q: %w", f.Name, err)
	}
	zrc, err := zr.Open(f)
	if err != nil {
		return nil, refit.WrapErrorf("numpy", -1, err, "member %q: opening", f.Name)
	}
	defer zrc.Close()
	rc := refit.LimitInflated("numpy", f.Name, zrc, f.Size)
	if _, err := io.CopyN(io.Discard, rc, h.DataOffset); err != nil {
		return nil, refit.WrapErrorf("numpy", -1, unexpectedEOF(err), "member %q: skipping header", f.Name)
	}
	buf := make([]byte, h.DataSize)
	if _, err := io.ReadFull(rc, buf); err != nil {
		return nil, refit.WrapErrorf("numpy", -1, unexpectedEOF(err), "member %q: inflating", f.Name)
	}
	// One more read reaches the end of the member, where ziparchive checks the CRC
	// and that no byte follows the declared size.
	var one [1]byte
	if n, err := rc.Read(one[:]); n != 0 || err != io.EOF {
		if err == nil || err == io.EOF {
			err = errors.New("data beyond the declared size")
		}
		return nil, refit.WrapErrorf("numpy", -1, err, "member %q", f.Name)
	}
	return buf, nil
}

// sniffNPZ reports whether r is a zip archive with at least one member, all of
// them .npy arrays. A PyTorch archive (which holds data.pkl) is not.
func sniffNPZ(r io.ReaderAt, size int64) bool {
	if !refit.HasPrefix(r, size, "PK\x03\x04") {
		return false
	}
	// Every listing either loader has, so that an ambiguous archive reaches Decode and
	// its error.
	all := ziparchive.AllMembers(r, size)
	if len(all) == 0 {
		return false
	}
	for _, f := range all {
		name, _, _ := strings.Cut(f.Name, "\x00") // as Python's zipfile names it
		if !strings.HasSuffix(name, memberSuffix) || name == memberSuffix {
			return false
		}
	}
	return true
}

// WriteNPZ writes tensors as a .npz archive, one member "<name>.npy" per tensor,
// stored (numpy.savez) or deflated (numpy.savez_compressed). Every tensor is checked
// before the first byte is written; data streams one tensor at a time.
func WriteNPZ(w io.Writer, tensors []*tensor.Tensor, compress bool) error {
	seen := make(map[string]bool, len(tensors))
	for _, t := range tensors {
		if t.Name == "" {
			return fmt.Errorf("numpy: tensor with an empty name")
		}
		if seen[t.Name] {
			return fmt.Errorf("numpy: duplicate tensor name %q", t.Name)
		}
		seen[t.Name] = true
		if !fs.ValidPath(t.Name + memberSuffix) {
			// Readers would refuse it, and unzip could write outside its folder.
			return fmt.Errorf("numpy: tensor name %q as a zip member: %w", t.Name, refit.ErrInsecurePath)
		}
		if err := checkEncodable(t); err != nil {
			return err
		}
	}
	if !compress {
		return writeStored(w, tensors)
	}
	zw := zip.NewWriter(w)
	for _, t := range tensors {
		fw, err := zw.CreateHeader(&zip.FileHeader{Name: t.Name + memberSuffix, Method: zip.Deflate, Modified: zipTime})
		if err != nil {
			return fmt.Errorf("numpy: tensor %q: %w", t.Name, err)
		}
		if err := EncodeNPY(fw, t); err != nil {
			return err
		}
	}
	return zw.Close()
}

// paddingExtraID marks the zip extra field that pads a member so that its data keeps
// its source's page phase; it is torch's alignment padding id ("FB"). Readers skip
// extra fields they do not know.
const paddingExtraID = 0x4246

// writeStored writes a stored .npz with Refit's zip writer rather than archive/zip,
// whose CRC-as-you-write pushes every byte through user memory: a member whose data
// lies in a file gets its CRC from a first read (straight from the mapping,
// tensor.Scan; the header's CRC joined to it arithmetically, ziparchive.CombineCRC),
// and its bytes then move file to file (copy_file_range). Other
// members (computed tensors) stream once, with a data descriptor.
func writeStored(w io.Writer, tensors []*tensor.Tensor) error {
	z := ziparchive.NewWriter(w)
	z.PaddingID = paddingExtraID
	for _, t := range tensors {
		descr, _ := descrFor(t.DType)
		header := appendHeader(nil, descr, t.Shape)
		name := t.Name + memberSuffix
		writeTo := func(w io.Writer) (int64, error) {
			h, err := w.Write(header)
			if err != nil {
				return int64(h), err
			}
			n, err := t.WriteTo(w)
			if err != nil {
				return int64(h) + n, fmt.Errorf("numpy: writing tensor %q: %w", t.Name, err)
			}
			if n != t.Size() {
				return int64(h) + n, fmt.Errorf("numpy: tensor %q: wrote %d of %d bytes", t.Name, n, t.Size())
			}
			return int64(h) + n, nil
		}
		var err error
		if _, ok := t.Data.(*io.SectionReader); ok {
			// The tensor bytes follow the header: place them at their source's page phase.
			phase := int64(-1)
			if off, ok := t.SourceOffset(); ok {
				phase = ((off-int64(len(header)))%ziparchive.PageSize + ziparchive.PageSize) % ziparchive.PageSize
			}
			memberCRC := func() (uint32, error) {
				crc, err := dataCRC(t)
				return ziparchive.CombineCRC(crc32.ChecksumIEEE(header), crc, t.Size()), err
			}
			err = z.Copy(name, int64(len(header))+t.Size(), phase, memberCRC, writeTo)
		} else {
			err = z.Stream(name, writeTo)
		}
		if err != nil {
			return fmt.Errorf("numpy: tensor %q: %w", t.Name, err)
		}
	}
	return z.Close()
}

// dataCRC is the CRC-32 of a file-backed tensor's bytes: computed by the copy that
// wrote them where it checksummed them (tensor.KnownCRC, not a checksum the file only
// declares), else read straight from the mapping (tensor.Scan). The file is told
// (tensor.NoteCRC), so a verification of the output compares its copy against it
// without reading the source again.
func dataCRC(t *tensor.Tensor) (uint32, error) {
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
