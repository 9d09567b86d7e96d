// Package onnx reads and writes ONNX models (.onnx), the protobuf-based format of
// the Open Neural Network Exchange. See https://onnx.ai/onnx/repo-docs/IR.html.
//
// Two levels:
//   - [Decode] / [DecodeFS] return a refit.Model whose tensors are the top-level
//     graph's initializers; the graph itself rides along in Model.Source so that [Encode] / [EncodeFile] can write the model back as ONNX
//     after its weights were transformed (same names, dtypes and shapes).
//   - [File] ([NewFile], [OpenFile]) exposes the ModelProto (generated types in
//     package onnxpb); [Load] returns a fully in-memory ModelProto with external
//     data read in, for executing or rewriting small models; [WriteModel] and
//     [WriteModelFile] write one deterministically.
//
// Memory: proto.Unmarshal copies every bytes field, so the decoder first walks the
// (memory-mapped) input with protowire, cuts the raw_data of the top-level
// initializers out of a copy of the model's structure, and parses only that copy.
// Weights stay in the file: tensors are io.SectionReaders into it (or into their
// external data files), never copied. Tensors stored in typed fields (float_data,
// int64_data, ...) are converted to bytes, since their values are in the proto
// anyway; nested tensors (Constant nodes, subgraphs) stay whole in the proto.
// Inputs that are not memory-mapped are read once into memory to be parsed. The Go
// memory the parsed structure will take (about 200 bytes per empty node, from 2 bytes
// of file) is estimated from the wire format and charged to the call's memory budget
// (refit.DecodeOptions.MaxMemory) before parsing; past it, refit.ErrBudget.
// Encoding streams: headers are marshaled first so every length is known, then
// each tensor is copied into place, one at a time.
//
// Output is deterministic (proto deterministic marshaling, fixed field order,
// external data offsets aligned to [ExternalAlign]). A model that would exceed
// protobuf's 2 GiB limit is written with external data automatically by the
// *File functions.
//
// Element types: ONNX types map to tensor.DType where Refit has one. STRING, the
// FNUZ float8 types, INT4/UINT4 and FLOAT4E2M1 have none: the Model path reports
// refit.ErrUnsupported naming the tensor; the proto keeps them.
//
// Security: the input is hostile. Every length is checked against the bytes present
// before allocating; element counts of typed fields must match the shape; raw and
// external data sizes must equal the shape's byte size; external data locations
// must be relative paths inside the model's folder (no "..", no absolute or drive
// paths: refit.ErrInsecurePath) and offset+length must lie within the side file.
// Opened through refit.DirFS, a side file that is a symlink out of the folder, or a
// FIFO or device, is refused too (refit.ErrInsecurePath), without blocking.
// Malformed input gives errors wrapping refit.ErrFormat, never a panic.
package onnx
