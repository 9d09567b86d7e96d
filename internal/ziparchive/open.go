package ziparchive

import (
	"compress/bzip2"
	"compress/flate"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
)

// Open returns the member's uncompressed bytes as a stream. It fails at the end of the
// stream when the data is longer or shorter than the declared size or the CRC-32 differs.
// Every member of every archive is opened here, so limits on decompression wrap this one
// function.
func (z *Reader) Open(m *Member) (io.ReadCloser, error) {
	if m.Flags&1 != 0 {
		return nil, fmt.Errorf("member %q is encrypted: %w", m.Name, ErrUnsupported)
	}
	raw := io.NewSectionReader(z.r, m.DataOffset, m.CompressedSize)
	var rc io.ReadCloser
	switch m.Method {
	case Store:
		if m.CompressedSize != m.Size {
			return nil, formatErr("stored member %q: compressed size %d != size %d", m.Name, m.CompressedSize, m.Size)
		}
		rc = io.NopCloser(raw)
	case Deflate:
		rc = flate.NewReader(raw)
	case BZip2:
		rc = io.NopCloser(bzip2.NewReader(raw))
	default:
		return nil, fmt.Errorf("member %q: compression method %d: %w", m.Name, m.Method, ErrUnsupported)
	}
	return &checkedReader{rc: rc, m: m, left: m.Size, crc: crc32.NewIEEE()}, nil
}

// OpenRaw returns the member's stored bytes. Only for Store members, whose data readers
// may then use in place.
func (z *Reader) OpenRaw(m *Member) (*io.SectionReader, error) {
	if m.Method != Store || m.Flags&1 != 0 {
		return nil, fmt.Errorf("member %q is not stored plainly: %w", m.Name, ErrUnsupported)
	}
	if m.CompressedSize != m.Size {
		return nil, formatErr("stored member %q: compressed size %d != size %d", m.Name, m.CompressedSize, m.Size)
	}
	return io.NewSectionReader(z.r, m.DataOffset, m.Size), nil
}

// checkedReader stops at the declared size and checks the length and CRC-32 at the end.
type checkedReader struct {
	rc   io.ReadCloser
	m    *Member
	left int64
	crc  hash.Hash32
	err  error
}

func (c *checkedReader) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	if c.left == 0 {
		// One byte more tells a member that inflates beyond its size from one that ends.
		var one [1]byte
		n, err := c.rc.Read(one[:])
		switch {
		case n > 0:
			c.err = formatErr("member %q: data beyond the declared %d bytes", c.m.Name, c.m.Size)
		case err == nil || err == io.EOF:
			if c.crc.Sum32() != c.m.CRC32 {
				c.err = fmt.Errorf("zip: member %q: %w (%w)", c.m.Name, ErrChecksum, ErrFormat)
			} else {
				c.err = io.EOF
			}
		default:
			c.err = c.wrap(err)
		}
		return 0, c.err
	}
	p = p[:min(int64(len(p)), c.left)]
	n, err := c.rc.Read(p)
	c.crc.Write(p[:n])
	c.left -= int64(n)
	if err == io.EOF && c.left > 0 {
		c.err = formatErr("member %q: %d bytes short of the declared %d", c.m.Name, c.left, c.m.Size)
		return n, c.err
	}
	if err != nil && err != io.EOF {
		c.err = c.wrap(err)
		return n, c.err
	}
	return n, nil
}

func (c *checkedReader) wrap(err error) error {
	if errors.Is(err, ErrFormat) {
		return err
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("zip: member %q: %w (%w)", c.m.Name, err, ErrFormat)
	}
	var ce flate.CorruptInputError
	var be bzip2.StructuralError
	if errors.As(err, &ce) || errors.As(err, &be) {
		return fmt.Errorf("zip: member %q: %w (%w)", c.m.Name, err, ErrFormat)
	}
	return fmt.Errorf("zip: member %q: %w", c.m.Name, err)
}

func (c *checkedReader) Close() error { return c.rc.Close() }
