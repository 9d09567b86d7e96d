package cli

import (
	"context"
	"fmt"
	"io/fs"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/onnx"
	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/graph/eval"
	"github.com/refit-ml/refit/optimize"
)

// loadONNX reads the ONNX model at path and applies the preparation every ONNX
// command runs first (optimize.Prepare): Constant nodes and Identity copies of
// initializers become initializers and constant subgraphs are folded, so weights are
// found wherever the exporter put them. fsys resolves the model's external data.
func loadONNX(ctx context.Context, path string) (*onnxpb.ModelProto, fs.FS, error) {
	fsys, base := refit.FileFS(path)
	mp, err := onnx.Load(fsys, base)
	if err != nil {
		return nil, nil, err
	}
	mp, err = prepareONNX(ctx, mp)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return mp, fsys, nil
}

func prepareONNX(ctx context.Context, mp *onnxpb.ModelProto) (*onnxpb.ModelProto, error) {
	out, _, err := optimize.Prepare(ctx, mp, &optimize.PrepareOptions{Fold: eval.Node})
	if err != nil {
		return nil, fmt.Errorf("prepare: %w", err)
	}
	return out, nil
}

// preprocessQuantize optimizes mp before quantization, as ONNX Runtime's
// quant_pre_process recommends: folded constants, no Identity or inference Dropout,
// BatchNormalization folded into Conv/Gemm and MatMul+Add fused into Gemm, so every
// Conv/MatMul/Gemm reads its weight and bias straight from initializers.
func preprocessQuantize(ctx context.Context, mp *onnxpb.ModelProto) (*onnxpb.ModelProto, *optimize.Report, error) {
	// fold-conv-affine would quantize per-channel-scaled Conv outputs per tensor.
	out, rep, err := optimize.Model(ctx, mp, &optimize.Options{Fold: eval.Node, Skip: []string{"fold-conv-affine"}})
	if err != nil {
		return nil, nil, fmt.Errorf("preprocess: %w", err)
	}
	return out, rep, nil
}
