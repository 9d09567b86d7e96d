// Package tflite reads TensorFlow Lite models (.tflite flatbuffers, identifier "TFL3").
//
// Spec: tensorflow/lite/schema/schema.fbs. schema.fbs here is the subset Refit reads,
// written from that layout with every field before the last one read kept in place
// (field order fixes vtable slots; unions take two). internal/schema is generated
// from it by Debian's flatc 2.0.8 and committed, so building needs no flatc.
//
// # Tensors
//
// Constant tensors, those whose buffer holds bytes, become Model tensors in subgraph
// order; activations (buffer 0 or empty) are not tensors of the model but are listed
// in the *File that Model.Source holds. Buffers are read either from the flatbuffer's
// data vector or, for models over 2 GiB, from the absolute file offset and size the
// buffer records. Types: float32/16/64, bfloat16, int8/16/32/64, uint8/16/32/64,
// bool, complex. Sparse tensors (TFLite's traversal order, block map and dense/CSR
// dimensions) are validated at decode time and densified lazily when pulled; a dense
// form more than 1024 times its stored values (plus 1 MiB) is refused. Strings,
// resources, variants and int4 are skipped and listed in metadata "tflite.skipped". Quantized tensors keep their stored integers;
// their parameters are metadata "tflite.quantization.<name>.scale" ([]float32),
// ".zero_point" ([]int64) and ".dimension" (int32), and [Dequantize] gives a lazy
// float32 view computed as TFLite's reference kernel does.
//
// # Operators
//
// [File].Graphs holds each subgraph's inputs, outputs and operators (builtin name or
// "CUSTOM:<code>", tensor indices, builtin [Options] read by field index), for
// converters such as tf2onnx.
//
// # Memory
//
// The flatbuffer is walked in place when the reader is an mmap'd file (it exposes
// Bytes); other readers are read into memory (capped at [MaxFlatbuffer]). Tensors are
// views of the file.
//
// # Security
//
// The flatbuffers Go runtime does not verify buffers, so the decoder does it without
// a recover: every table, vtable, field, vector and string (tensors, buffers,
// quantization, sparsity, operators) is checked against the buffer before a generated
// accessor reads it, buffer indices against the buffer count, external offsets and
// sizes against the file size, and each tensor's byte count against its dtype and
// shape. A malformed file gives refit.ErrFormat with the byte offset of the bad part.
//
// # Fixtures
//
// testdata/*.tflite are written by TestGenerateFixtures with the flatbuffers builder
// (go test -run TestGenerateFixtures -update), since TensorFlow is not available.
package tflite
