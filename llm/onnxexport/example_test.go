package onnxexport_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/refit-ml/refit"
	_ "github.com/refit-ml/refit/format/all"
	"github.com/refit-ml/refit/format/onnx"
	"github.com/refit-ml/refit/internal/testtool"
	"github.com/refit-ml/refit/llm/onnxexport"
)

// Export a GGUF model as an ONNX graph with a key/value cache and check it in
// Refit's runtime.
func Example() {
	m, err := refit.Open(filepath.Join(testtool.RepoRoot(), "testdata", "models", "llm", "llama-f16.gguf"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close()
	om, err := onnxexport.Export(context.Background(), m, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	dir, err := os.MkdirTemp("", "onnxexport")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	if err := onnx.EncodeFile(filepath.Join(dir, "model.onnx"), om, nil); err != nil {
		fmt.Println(err)
		return
	}
	mp, err := onnx.Load(refit.DirFS(dir), "model.onnx")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, vi := range mp.GetGraph().GetInput()[:4] {
		var dims []string
		for _, d := range vi.GetType().GetTensorType().GetShape().GetDim() {
			if p := d.GetDimParam(); p != "" {
				dims = append(dims, p)
			} else {
				dims = append(dims, fmt.Sprint(d.GetDimValue()))
			}
		}
		fmt.Println(vi.GetName(), onnx.TypeString(vi.GetType()), dims)
	}
	c, err := onnxexport.Verify(context.Background(), mp, nil, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("decode from the cache agrees with a full prefill:", c.MaxAbs <= 1e-4*c.Scale)
	// Output:
	// input_ids tensor(int64) [batch_size sequence_length]
	// attention_mask tensor(int64) [batch_size total_sequence_length]
	// position_ids tensor(int64) [batch_size sequence_length]
	// past_key_values.0.key tensor(float) [batch_size 2 past_sequence_length 16]
	// decode from the cache agrees with a full prefill: true
}
