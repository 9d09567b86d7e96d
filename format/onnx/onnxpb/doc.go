// Package onnxpb holds the generated Go types for the ONNX model file format
// (ModelProto, GraphProto, TensorProto, ...), from Refit's own schema
// refit_onnx.proto (proto package refit.onnx.v1, wire-compatible with ONNX).
//
// The generated file is committed so builds need no protoc; run go generate
// (or gen.sh) after editing the schema.
package onnxpb

//go:generate ./gen.sh
