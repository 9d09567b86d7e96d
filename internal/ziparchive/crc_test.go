package ziparchive

import (
	"hash/crc32"
	"math/rand/v2"
	"testing"
)

// TestCombineCRC checks CombineCRC and SuffixCRC against checksums of the joined
// bytes, for lengths around the squaring steps (0, 1, powers of two and neighbours).
func TestCombineCRC(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, la := range []int{0, 1, 7, 64, 300} {
		for _, lb := range []int{0, 1, 2, 3, 8, 255, 256, 257, 4096, 65537, 1 << 20} {
			b := make([]byte, la+lb)
			for i := range b {
				b[i] = byte(r.Uint32())
			}
			whole, ca, cb := crc32.ChecksumIEEE(b), crc32.ChecksumIEEE(b[:la]), crc32.ChecksumIEEE(b[la:])
			if got := CombineCRC(ca, cb, int64(lb)); got != whole {
				t.Errorf("CombineCRC(%d + %d bytes) = %08x, want %08x", la, lb, got, whole)
			}
			if got := SuffixCRC(whole, ca, int64(lb)); got != cb {
				t.Errorf("SuffixCRC(%d + %d bytes) = %08x, want %08x", la, lb, got, cb)
			}
		}
	}
}
