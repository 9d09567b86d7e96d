package tensor

import (
	"encoding/binary"
	"fmt"
)

// Dequantize decodes len(dst) elements of block type d from src into dst.
func Dequantize(dst []float32, src []byte, d DType) error {
	bs, ts := d.BlockSize(), d.TypeSize()
	if !d.Quantized() || len(dst)%bs != 0 || len(src) != len(dst)/bs*ts {
		return fmt.Errorf("tensor: cannot dequantize %d bytes of %v into %d values", len(src), d, len(dst))
	}
	fn := dequantizers[d]
	if fn == nil {
		return fmt.Errorf("tensor: dequantizing %v is not supported", d)
	}
	for b := 0; b < len(dst)/bs; b++ {
		fn(dst[b*bs:(b+1)*bs], src[b*ts:(b+1)*ts])
	}
	return nil
}

// dequantizers decode one block each.
var dequantizers = map[DType]func(dst []float32, blk []byte){
	Q8_0: func(dst []float32, blk []byte) {
		d := F16ToF32(binary.LittleEndian.Uint16(blk))
		for i := range 32 {
			dst[i] = d * float32(int8(blk[2+i]))
		}
	},
}
