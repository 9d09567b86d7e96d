package onnx_test

import (
	"fmt"
	"os"

	"github.com/refit-ml/refit/format/onnx"
)

func ExampleDecodeFS() {
	m, err := onnx.DecodeFS(os.DirFS("testdata"), "ext/model.onnx", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close()
	for _, t := range m.Tensors {
		fmt.Println(t.Name, t.DType, t.Shape)
	}
	// Output:
	// W F32 [4, 8]
	// B F32 [8]
	// S I64 [2]
	// H F16 [2, 8]
}

func ExampleFile_Summary() {
	f, err := onnx.OpenFile(os.DirFS("testdata"), "small.onnx")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer f.Close()
	s := f.Summary()
	for _, v := range s.Inputs {
		fmt.Println("input", v.Name, v.Type, v.Dims)
	}
	for _, op := range s.Operators {
		fmt.Println(op.OpType, op.Count)
	}
	// Output:
	// input X tensor(float) [batch 4]
	// Add 1
	// MatMul 1
	// Relu 1
	// Reshape 1
}
