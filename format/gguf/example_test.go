package gguf_test

import (
	"bytes"
	"fmt"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/gguf"
	"github.com/refit-ml/refit/tensor"
)

func Example() {
	var m refit.Model
	m.Metadata.Set("general.architecture", "llama")
	m.Metadata.Set("llama.context_length", uint32(4096))
	m.Metadata.Set("tokenizer.ggml.tokens", []string{"<s>", "</s>"})
	w, _ := tensor.NewF32("output.weight", tensor.Shape{2, 3}, []float32{1, 2, 3, 4, 5, 6})
	m.Tensors = append(m.Tensors, w)

	var buf bytes.Buffer
	if err := gguf.Encode(&buf, &m, nil); err != nil {
		panic(err)
	}
	f, err := gguf.Parse(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		panic(err)
	}
	for _, kv := range f.KVs {
		typ, _ := kv.Type()
		fmt.Printf("%s %v %v\n", kv.Key, typ, kv.Value)
	}
	ti := f.Tensors[0]
	fmt.Println(ti.Name, ti.Type, "ggml shape", ti.Shape, "at", f.DataOffset+int64(ti.Offset))
	// Output:
	// general.architecture STRING llama
	// llama.context_length UINT32 4096
	// tokenizer.ggml.tokens ARRAY [<s> </s>]
	// output.weight F32 ggml shape [3 2] at 256
}
