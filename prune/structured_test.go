package prune

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/onnx"
)

func TestStructuredMNISTSmoke(t *testing.T) {
	for _, name := range []string{"mnist_cnn.onnx", "mnist_cnn_bn.onnx"} {
		dir := filepath.Join("..", "testdata", "models", "mnist")
		mp, err := onnx.Load(refit.DirFS(dir), name)
		if err != nil {
			t.Fatal(err)
		}
		out, rep, err := Structured(context.Background(), mp, nil, &StructuredOptions{Sparsity: 0.5})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %+v", name, rep)
		_ = out
	}
}
