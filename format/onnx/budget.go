package onnx

import (
	"fmt"
	"reflect"
	"sync"

	"github.com/refit-ml/refit"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// proto.Unmarshal builds a Go struct per message and a slot per repeated element: an empty
// NodeProto takes 2 bytes of file and about 200 bytes of heap, so a 40 MB graph of empty
// nodes needs gigabytes. protoCost walks the wire format with the message descriptors and
// adds up what Unmarshal will allocate, so the call's budget is charged before it does.

// Go memory per value beyond the struct sizes: a pointer in a slice of messages, a string
// or bytes header, a scalar in a repeated field, a pointer to an optional scalar.
const (
	protoPtrCost    = 8
	protoStringCost = 16 + 8 // header and the pointer of an optional field
	protoScalarCost = 8
)

// structSizes caches the Go size of each message type.
var structSizes sync.Map // protoreflect.FullName -> int64

func structSize(md protoreflect.MessageDescriptor) int64 {
	if v, ok := structSizes.Load(md.FullName()); ok {
		return v.(int64)
	}
	size := int64(256)
	if mt, err := protoregistry.GlobalTypes.FindMessageByName(md.FullName()); err == nil {
		size = int64(reflect.TypeOf(mt.Zero().Interface()).Elem().Size())
	}
	structSizes.Store(md.FullName(), size)
	return size
}

// protoCost estimates the heap proto.Unmarshal allocates for the message b of type md:
// each struct plus 16 bytes of allocator rounding, and repeated fields four times their
// slots (append doubles them, leaving the smaller copies as garbage). Malformed input costs what was walked; Unmarshal
// reports the error.
func protoCost(b []byte, md protoreflect.MessageDescriptor, depth int) int64 {
	cost := structSize(md) + 16
	if depth > 100 { // protobuf's own recursion limit
		return cost
	}
	fields := md.Fields()
	for pos := 0; pos < len(b); {
		num, typ, n := protowire.ConsumeTag(b[pos:])
		if n < 0 {
			return cost
		}
		pos += n
		m := protowire.ConsumeFieldValue(num, typ, b[pos:])
		if m < 0 {
			return cost
		}
		fd := fields.ByNumber(num)
		switch {
		case fd == nil: // unknown fields are kept as bytes
			cost += int64(n + m)
		case fd.Kind() == protoreflect.MessageKind || fd.Kind() == protoreflect.GroupKind:
			if v, k := protowire.ConsumeBytes(b[pos:]); k >= 0 && typ == protowire.BytesType {
				cost += protoCost(v, fd.Message(), depth+1)
			}
			if fd.IsList() {
				cost += 4 * protoPtrCost
			}
		case fd.Kind() == protoreflect.StringKind || fd.Kind() == protoreflect.BytesKind:
			cost += protoStringCost + int64(m)
			if fd.IsList() {
				cost += 2 * protoStringCost
			}
		case fd.IsList() && typ == protowire.BytesType: // packed scalars: at least one byte each
			cost += 4 * protoScalarCost * int64(m)
		default:
			cost += 2 * protoScalarCost
		}
		pos += m
	}
	return cost
}

// chargeProto charges budget with what unmarshaling b as md will allocate.
func chargeProto(b []byte, md protoreflect.MessageDescriptor, budget *refit.Budget) error {
	if err := budget.Charge(protoCost(b, md, 0), "protobuf messages"); err != nil {
		return fmt.Errorf("onnx: %w", err)
	}
	return nil
}
