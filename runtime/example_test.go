package runtime_test

import (
	"context"
	"fmt"
	"os"

	"google.golang.org/protobuf/proto"

	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/runtime"
)

func Example() {
	b, err := os.ReadFile("testdata/models/add_bcast.onnx") // y = Relu(x + [0.5, -1, 2])
	if err != nil {
		panic(err)
	}
	mp := &onnxpb.ModelProto{}
	if err := proto.Unmarshal(b, mp); err != nil {
		panic(err)
	}
	sess, err := runtime.Load(mp, nil, nil)
	if err != nil {
		panic(err)
	}
	x, _ := runtime.FromSlice([]float32{1, 1, 1, -1, -1, -1}, 2, 3)
	out, err := sess.Run(context.Background(), map[string]*runtime.Value{"x": x})
	if err != nil {
		panic(err)
	}
	fmt.Println(out["y"].Shape, out["y"].Float32s())
	// Output: [2 3] [1.5 0 3 0 0 1]
}
