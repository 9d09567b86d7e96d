package pytorch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/refit-ml/refit"
)

const (
	// eocdSearch is how far from the end a zip's end-of-central-directory record can
	// start: its 22 bytes plus a comment of at most 65535.
	eocdSearch = 22 + 65535
	// lastHeaderSearch bounds the backward search for the member a cut zip stops in;
	// beyond it the message names no member (tensor data can be gigabytes).
	lastHeaderSearch = 1 << 20
	localHeaderLen   = 30
)

// firstMember returns the name of the zip member whose local header starts the file.
func firstMember(r io.ReaderAt, size int64) (string, bool) {
	return memberAt(r, size, 0)
}

// memberAt reads the local file header at off and returns its member name.
func memberAt(r io.ReaderAt, size, off int64) (string, bool) {
	var h [localHeaderLen]byte
	if off < 0 || size-off < localHeaderLen {
		return "", false
	}
	if _, err := r.ReadAt(h[:], off); err != nil || string(h[:4]) != "PK\x03\x04" {
		return "", false
	}
	n := int64(binary.LittleEndian.Uint16(h[26:]))
	if n == 0 || n > size-off-localHeaderLen {
		return "", false
	}
	name := make([]byte, n)
	if _, err := r.ReadAt(name, off+localHeaderLen); err != nil {
		return "", false
	}
	return string(name), true
}

// torchMember reports whether name (below the archive's top folder) is a member
// torch.save or torch.jit.save writes.
func torchMember(name string) bool {
	switch name {
	case "data.pkl", "constants.pkl", "version", ".data/version", "byteorder":
		return true
	}
	return strings.HasPrefix(name, "data/") || strings.HasPrefix(name, "code/")
}

// completeEnd reports whether tail (the end of a file) ends with a whole
// end-of-central-directory record: its signature, 22 bytes and its comment.
func completeEnd(tail []byte) bool {
	for i := len(tail); i > 0; {
		i = bytes.LastIndex(tail[:i], []byte("PK\x05\x06"))
		if i < 0 {
			return false
		}
		if len(tail)-i >= 22 && i+22+int(binary.LittleEndian.Uint16(tail[i+20:])) == len(tail) {
			return true
		}
	}
	return false
}

// truncatedZip reports a torch zip archive cut short: the file starts with a member
// torch writes (<dir>/data.pkl, <dir>/data/0 ...) but does not end with the
// end-of-central-directory record every complete archive ends with. The error names the file size as the offset and, when
// it is near the end, the member the file stops in.
func truncatedZip(r io.ReaderAt, size int64) error {
	first, ok := firstMember(r, size)
	dir, base, _ := strings.Cut(first, "/")
	if !ok || dir == "" || !torchMember(base) {
		return nil
	}
	tail := min(size, eocdSearch)
	buf := make([]byte, tail)
	if _, err := r.ReadAt(buf, size-tail); err != nil && err != io.EOF {
		return nil
	}
	if completeEnd(buf) {
		return nil // damaged some other way
	}
	msg := "file truncated: the zip archive has no central directory"
	if name, at, ok := lastMember(r, size, dir+"/"); ok {
		msg = fmt.Sprintf("file truncated: the last zip member begun is %s (header at byte %d) and the central directory is missing", name, at)
	}
	return &refit.FormatError{Format: "pytorch", Offset: size, Msg: msg, Err: io.ErrUnexpectedEOF}
}

// lastMember finds the last local header in the final lastHeaderSearch bytes whose
// member name starts with prefix.
func lastMember(r io.ReaderAt, size int64, prefix string) (string, int64, bool) {
	span := min(size, lastHeaderSearch)
	buf := make([]byte, span)
	if _, err := r.ReadAt(buf, size-span); err != nil && err != io.EOF {
		return "", 0, false
	}
	for i := len(buf); i > 0; {
		i = bytes.LastIndex(buf[:i], []byte("PK\x03\x04"))
		if i < 0 {
			break
		}
		at := size - span + int64(i)
		if name, ok := memberAt(r, size, at); ok && strings.HasPrefix(name, prefix) {
			return name, at, true
		}
	}
	return "", 0, false
}

// legacyPickleErr wraps the error of one of a legacy file's pickles; one that runs past
// the end of the file says so, with the file size as the offset.
func legacyPickleErr(err error, what string, start, size int64) error {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return &refit.FormatError{Format: "pytorch", Offset: size,
			Msg: fmt.Sprintf("file truncated: it ends inside the %s pickle that starts at byte %d", what, start), Err: err}
	}
	return wrapPickleErr(err)
}

// legacyStorageTruncated reports a legacy storage whose bytes run past the end of the file.
func legacyStorageTruncated(key string, off, need, size int64) error {
	return &refit.FormatError{Format: "pytorch", Offset: size,
		Msg: fmt.Sprintf("file truncated: storage %s needs %d bytes from byte %d", key, need, off), Err: io.ErrUnexpectedEOF}
}
