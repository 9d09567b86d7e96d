package onnx

import (
	"io"

	"github.com/refit-ml/refit"
	"google.golang.org/protobuf/encoding/protowire"
)

func init() {
	refit.Register(refit.Format{
		Name:       "onnx",
		Extensions: []string{".onnx"},
		Sniff:      Sniff,
		Decode:     Decode,
		DecodeFS:   DecodeFS,
		Encode:     func(w io.Writer, m *refit.Model) error { return Encode(w, m, nil) },
		EncodeFS:   EncodeFS,
		Prepare:    Prepare,
	})
}

// modelFieldTypes are ModelProto's fields and their wire types, for sniffing.
var modelFieldTypes = map[protowire.Number]protowire.Type{
	1: protowire.VarintType, 2: protowire.BytesType, 3: protowire.BytesType, 4: protowire.BytesType,
	5: protowire.VarintType, 6: protowire.BytesType, 7: protowire.BytesType, 8: protowire.BytesType,
	14: protowire.BytesType, 20: protowire.BytesType, 25: protowire.BytesType,
}

// maxSniffIRVersion bounds a plausible ir_version (ONNX is at 11 in 2025).
const maxSniffIRVersion = 100

// Sniff reports whether r starts like an ONNX ModelProto: ir_version (field 1) first
// with a plausible value, followed by ModelProto fields of the right wire types whose
// lengths fit in the file. It reads at most 4 KiB.
func Sniff(r io.ReaderAt, size int64) bool {
	buf := make([]byte, min(size, 4096))
	n, _ := r.ReadAt(buf, 0)
	buf = buf[:n]
	if len(buf) < 4 || buf[0] != 0x08 {
		return false
	}
	v, k := protowire.ConsumeVarint(buf[1:])
	if k < 0 || v == 0 || v > maxSniffIRVersion {
		return false
	}
	pos := int64(1 + k)
	fields := 0
	for fields < 4 && pos < int64(len(buf)) {
		num, typ, k := protowire.ConsumeTag(buf[pos:])
		if k < 0 {
			return false
		}
		if want, ok := modelFieldTypes[num]; !ok || want != typ || num == 1 {
			return false
		}
		pos += int64(k)
		l, k := protowire.ConsumeVarint(buf[pos:])
		if k < 0 {
			return fields > 0 && size > int64(len(buf)) // cut off by the read window
		}
		pos += int64(k)
		if typ == protowire.BytesType {
			if l > uint64(size-pos) {
				return false
			}
			pos += int64(l)
		}
		fields++
	}
	return fields > 0 && pos <= size
}
