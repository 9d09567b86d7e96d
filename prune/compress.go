package prune

import (
	"io"

	"github.com/klauspost/compress/zstd"
)

// CompressLevel is the zstd level used for pruned outputs: on weight data only the
// "better" level or higher finds the runs of zeros left by pruning.
const CompressLevel = zstd.SpeedBetterCompression

// Compressor returns a zstd stream writer onto w; closing it flushes the frame but
// does not close w.
func Compressor(w io.Writer) (io.WriteCloser, error) {
	return zstd.NewWriter(w, zstd.WithEncoderLevel(CompressLevel))
}

// CompressedSize is the size of r's bytes as one zstd stream at CompressLevel.
func CompressedSize(r io.Reader) (int64, error) {
	var c counter
	zw, err := Compressor(&c)
	if err != nil {
		return 0, err
	}
	if _, err := io.Copy(zw, r); err != nil {
		zw.Close()
		return 0, err
	}
	if err := zw.Close(); err != nil {
		return 0, err
	}
	return int64(c), nil
}

type counter int64

func (c *counter) Write(p []byte) (int, error) { *c += counter(len(p)); return len(p), nil }
