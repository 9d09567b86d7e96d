package ziparchive

// CRC-32 arithmetic (the IEEE polynomial zip uses) on finished checksums. A CRC is
// linear over GF(2) once its initial and final inversions cancel: for byte strings A
// and B, crc(A‖B) = crc(A)·x^(8·len(B)) mod P  ⊕  crc(B). So the checksum of a member
// that is a header followed by data can be had from the data's checksum without
// reading the data again, and the data's from the member's.

// reversedIEEE is the IEEE polynomial in the reflected bit order hash/crc32 uses: the
// coefficient of x^0 is the top bit.
const reversedIEEE = 0xedb88320

// mulModP returns a·b mod P for polynomials in the reflected order.
func mulModP(a, b uint32) uint32 {
	var p uint32
	for m := uint32(1) << 31; m != 0; m >>= 1 {
		if a&m != 0 {
			p ^= b
		}
		// b = b·x mod P
		if b&1 != 0 {
			b = b>>1 ^ reversedIEEE
		} else {
			b >>= 1
		}
	}
	return p
}

// xPow8n returns x^(8·n) mod P, by squaring: x^8 and its repeated squares.
func xPow8n(n int64) uint32 {
	p := uint32(1) << 31  // x^0
	sq := uint32(1) << 23 // x^8
	for ; n > 0; n >>= 1 {
		if n&1 != 0 {
			p = mulModP(sq, p)
		}
		sq = mulModP(sq, sq)
	}
	return p
}

// CombineCRC returns the CRC-32 (IEEE) of A‖B from crcA, crcB and B's length.
func CombineCRC(crcA, crcB uint32, lenB int64) uint32 {
	return mulModP(xPow8n(lenB), crcA) ^ crcB
}

// SuffixCRC returns the CRC-32 (IEEE) of B from the CRC-32 of A‖B, of A, and B's
// length: the inverse of CombineCRC.
func SuffixCRC(crcAB, crcA uint32, lenB int64) uint32 {
	return mulModP(xPow8n(lenB), crcA) ^ crcAB
}
