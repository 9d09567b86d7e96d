package optimize

import (
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/refit-ml/refit/format/onnx/onnxpb"
)

// cloneSharingWeights is proto.Clone(mp) except that the raw_data of the main
// graph's initializers is shared, not copied: the passes replace initializers and
// never write into their bytes, so a model's weights take memory once (or stay in
// the file's mapping, see onnx.LoadMapped) however often it is optimized. mp is
// only read.
func cloneSharingWeights(mp *onnxpb.ModelProto) *onnxpb.ModelProto {
	out := cloneExcept(mp, "graph").(*onnxpb.ModelProto)
	if mp.Graph == nil {
		return out
	}
	g := cloneExcept(mp.Graph, "initializer").(*onnxpb.GraphProto)
	for _, t := range mp.Graph.Initializer {
		c := cloneExcept(t, "raw_data").(*onnxpb.TensorProto)
		c.RawData = t.RawData
		g.Initializer = append(g.Initializer, c)
	}
	out.Graph = g
	return out
}

// cloneExcept deep-copies m without its field named skip: a shallow copy of the
// other fields is cloned, so m itself is never modified.
func cloneExcept(m proto.Message, skip protoreflect.Name) proto.Message {
	src := m.ProtoReflect()
	shallow := src.New()
	src.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Name() != skip {
			shallow.Set(fd, v)
		}
		return true
	})
	shallow.SetUnknown(src.GetUnknown())
	return proto.Clone(shallow.Interface())
}
