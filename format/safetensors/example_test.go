package safetensors_test

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/safetensors"
	"github.com/refit-ml/refit/tensor"
)

func Example() {
	w, _ := tensor.NewF32("layer.weight", tensor.Shape{2, 2}, []float32{1, 2, 3, 4})
	m := &refit.Model{Tensors: []*tensor.Tensor{w}}
	m.Metadata.Set("format", "pt")

	var buf bytes.Buffer
	if err := safetensors.Encode(&buf, m, nil); err != nil {
		log.Fatal(err)
	}
	back, err := safetensors.Decode(bytes.NewReader(buf.Bytes()), int64(buf.Len()), nil)
	if err != nil {
		log.Fatal(err)
	}
	t := back.Tensor("layer.weight")
	v, _ := t.Float32s()
	fmt.Println(buf.Len(), t.DType, t.Shape, v, back.Metadata.String("format"))
	// Output: 128 F32 [2, 2] [1 2 3 4] pt
}

// Shards are the format's multi-file output: EncodeTo writes them through a
// PendingOutput, which moves them into place (index last) on Commit.
func ExampleEncodeFS() {
	var ts []*tensor.Tensor
	for _, name := range []string{"a", "b", "c"} {
		t, _ := tensor.NewF32(name, tensor.Shape{4}, []float32{1, 2, 3, 4})
		ts = append(ts, t)
	}
	dir, err := os.MkdirTemp("", "shards")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	f, err := refit.Lookup("safetensors")
	if err != nil {
		log.Fatal(err)
	}
	out, err := refit.CreatePendingOutput(context.Background(), dir, true, false)
	if err != nil {
		log.Fatal(err)
	}
	defer out.Abort()
	if err := f.EncodeTo(out.Create, &refit.Model{Tensors: ts}, &refit.EncodeOptions{ShardSize: 32}); err != nil {
		log.Fatal(err)
	}
	files, err := out.Commit()
	if err != nil {
		log.Fatal(err)
	}
	for _, f := range files {
		fmt.Println(filepath.Base(f))
	}
	// Output:
	// model-00001-of-00002.safetensors
	// model-00002-of-00002.safetensors
	// model.safetensors.index.json
}
