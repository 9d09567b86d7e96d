package runtime

import (
	"fmt"
	"os"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/tensor"
)

// readValuePB reads a test-data value: a TensorProto, or for sequence and optional
// typed graph values an onnx SequenceProto or OptionalProto (not in onnxpb, so
// decoded here with protowire).
func readValuePB(path string, tp *onnxpb.TypeProto) (*Value, string, error) {
	if tp == nil || tp.GetTensorType() != nil {
		return readTensorPB(path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, "", err
	}
	return decodeContainerPB(b, tp)
}

// Field numbers shared by SequenceProto and OptionalProto (singular in the latter).
const (
	pbName     = 1
	pbTensor   = 3
	pbSequence = 5
	pbOptional = 7
)

func decodeContainerPB(b []byte, tp *onnxpb.TypeProto) (*Value, string, error) {
	var kind Kind
	var elemType *onnxpb.TypeProto
	switch {
	case tp.GetSequenceType() != nil:
		kind, elemType = KindSequence, tp.GetSequenceType().GetElemType()
	case tp.GetOptionalType() != nil:
		kind, elemType = KindOptional, tp.GetOptionalType().GetElemType()
	default:
		return nil, "", fmt.Errorf("unsupported value type %v", tp)
	}
	out := &Value{Kind: kind, DType: elemDType(elemType)}
	var name string
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, "", protowire.ParseError(n)
		}
		b = b[n:]
		if typ != protowire.BytesType {
			n = protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return nil, "", protowire.ParseError(n)
			}
			b = b[n:]
			continue
		}
		field, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return nil, "", protowire.ParseError(n)
		}
		b = b[n:]
		var elem *Value
		switch num {
		case pbName:
			name = string(field)
			continue
		case pbTensor:
			t := &onnxpb.TensorProto{}
			if err := proto.Unmarshal(field, t); err != nil {
				return nil, "", err
			}
			v, err := ValueFromProto(t, nil)
			if err != nil {
				return nil, "", err
			}
			elem = v
		case pbSequence, pbOptional:
			v, _, err := decodeContainerPB(field, elemType)
			if err != nil {
				return nil, "", err
			}
			elem = v
		default:
			continue
		}
		out.Elems = append(out.Elems, elem)
		if out.DType == tensor.Invalid {
			out.DType = elem.DType
		}
	}
	return out, name, out.Validate()
}

// elemDType is the tensor element type at the bottom of nested container types.
func elemDType(tp *onnxpb.TypeProto) tensor.DType {
	for tp != nil {
		if tt := tp.GetTensorType(); tt != nil {
			dt, _ := dtypeFromONNX(tt.GetElemType())
			return dt
		}
		if s := tp.GetSequenceType(); s != nil {
			tp = s.GetElemType()
			continue
		}
		if o := tp.GetOptionalType(); o != nil {
			tp = o.GetElemType()
			continue
		}
		break
	}
	return tensor.Invalid
}
