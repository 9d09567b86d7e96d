package refit

import (
	"fmt"
	"io"
)

// MaxInflateRatio is the most DEFLATE (zip, gzip, zlib) can expand: about 1032:1, reached
// by long runs of one byte. A member declaring more than this times its compressed size,
// plus InflateSlack for tiny members, is a lie.
const (
	MaxInflateRatio = 1032
	InflateSlack    = 1 << 10
)

// CheckInflateRatio refuses a compressed archive member (named for errors) whose declared
// uncompressed size no DEFLATE stream of compressed bytes can reach. Call it before
// allocating or writing anything for the member.
func CheckInflateRatio(format, name string, compressed, declared int64) error {
	if compressed < 0 || declared < 0 {
		return Errorf(format, -1, "member %q: negative size", name)
	}
	if declared > InflateSlack && (declared-InflateSlack)/MaxInflateRatio > compressed {
		return Errorf(format, -1, "member %q: %d compressed bytes cannot inflate to the declared %d", name, compressed, declared)
	}
	return nil
}

// LimitInflated wraps the decompressing reader of an archive member that declares
// declared bytes: a member inflating past its declared size (a zip bomb, or a header
// that disagrees with the data) fails with a *FormatError at the first byte too many,
// whatever the archive reader underneath checks. Ending short is io.ErrUnexpectedEOF.
func LimitInflated(format, name string, r io.Reader, declared int64) io.Reader {
	return &inflateLimiter{r: r, left: declared, format: format, name: name, declared: declared}
}

type inflateLimiter struct {
	r              io.Reader
	left, declared int64
	format, name   string
}

func (l *inflateLimiter) Read(p []byte) (int, error) {
	if l.left <= 0 {
		// Ask for one byte more: only the end of the stream is acceptable here.
		var one [1]byte
		n, err := l.r.Read(one[:])
		if n > 0 {
			return 0, Errorf(l.format, -1, "member %q inflates past its declared %d bytes", l.name, l.declared)
		}
		if err == nil {
			err = io.ErrNoProgress
		}
		return 0, err
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if err == io.EOF && l.left > 0 {
		err = &FormatError{Format: l.format, Offset: -1, Msg: fmt.Sprintf("member %q ends %d bytes short of its declared %d", l.name, l.left, l.declared), Err: io.ErrUnexpectedEOF}
	}
	return n, err
}
