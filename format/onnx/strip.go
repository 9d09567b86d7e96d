package onnx

import (
	"github.com/refit-ml/refit"
	"google.golang.org/protobuf/encoding/protowire"
)

// Field numbers the raw-data scanner walks: ModelProto.graph,
// GraphProto.initializer, TensorProto.raw_data.
const (
	fieldModelGraph       = 7
	fieldGraphInitializer = 5
	fieldTensorRawData    = 9
)

// rawRange is where one initializer's raw_data bytes lie in the input.
type rawRange struct {
	off, n int64
	ok     bool // the initializer has raw_data
}

// stripRawData returns a copy of the serialized ModelProto b without the raw_data
// fields of the top-level graph's initializers, and where each of those fields lay in b
// (one entry per initializer, in the order proto.Unmarshal lists them).
//
// Why: proto.Unmarshal copies every bytes field, so parsing a model directly would
// copy all its weights into the heap. Stripping first keeps the copy to the graph
// structure; the weights stay in the (memory-mapped) file as section readers.
// Everything else is copied verbatim, so malformed input is still reported by
// proto.Unmarshal on the result.
func stripRawData(b []byte) ([]byte, []rawRange, error) {
	out := make([]byte, 0, min(len(b), 1<<16))
	var ranges []rawRange
	err := walkFields(b, 0, func(num protowire.Number, typ protowire.Type, field, value []byte, valueOff int64) error {
		if num == fieldModelGraph && typ == protowire.BytesType {
			g, err := stripGraph(value, valueOff, &ranges)
			if err != nil {
				return err
			}
			out = protowire.AppendTag(out, num, typ)
			out = protowire.AppendBytes(out, g)
			return nil
		}
		out = append(out, field...)
		return nil
	})
	return out, ranges, err
}

func stripGraph(b []byte, base int64, ranges *[]rawRange) ([]byte, error) {
	out := make([]byte, 0, min(len(b), 1<<16))
	err := walkFields(b, base, func(num protowire.Number, typ protowire.Type, field, value []byte, valueOff int64) error {
		if num == fieldGraphInitializer && typ == protowire.BytesType {
			var r rawRange
			t := make([]byte, 0, min(len(value), 256))
			err := walkFields(value, valueOff, func(num protowire.Number, typ protowire.Type, field, value []byte, valueOff int64) error {
				if num == fieldTensorRawData && typ == protowire.BytesType {
					r = rawRange{off: valueOff, n: int64(len(value)), ok: true} // the last one wins, as in proto
					return nil
				}
				t = append(t, field...)
				return nil
			})
			if err != nil {
				return err
			}
			*ranges = append(*ranges, r)
			out = protowire.AppendTag(out, num, typ)
			out = protowire.AppendBytes(out, t)
			return nil
		}
		out = append(out, field...)
		return nil
	})
	return out, err
}

// walkFields calls fn for each field of the message b, which starts at byte base
// of the input: field is the whole encoded field, value the payload of a
// length-delimited field (nil otherwise) starting at valueOff.
func walkFields(b []byte, base int64, fn func(num protowire.Number, typ protowire.Type, field, value []byte, valueOff int64) error) error {
	for pos := 0; pos < len(b); {
		num, typ, n := protowire.ConsumeTag(b[pos:])
		if n < 0 {
			return refit.Errorf("onnx", base+int64(pos), "bad protobuf field tag: %v", protowire.ParseError(n))
		}
		var value []byte
		var m int
		if typ == protowire.BytesType {
			value, m = protowire.ConsumeBytes(b[pos+n:])
		} else {
			m = protowire.ConsumeFieldValue(num, typ, b[pos+n:])
		}
		if m < 0 {
			return refit.Errorf("onnx", base+int64(pos), "bad protobuf field %d: %v", num, protowire.ParseError(m))
		}
		valueOff := base + int64(pos+n+m-len(value))
		if err := fn(num, typ, b[pos:pos+n+m], value, valueOff); err != nil {
			return err
		}
		pos += n + m
	}
	return nil
}
