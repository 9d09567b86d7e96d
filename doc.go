// Package refit converts, compresses and verifies AI models.
//
// A [Model] is a list of lazily read tensors plus ordered metadata. Format packages
// under format/ decode files into Models and encode Models into files; each registers
// itself with [Register] in its init function, the way image/png registers with the
// image package, so that [Open] can recognize any file by its magic bytes (and, where
// two formats share a prefix such as a zip archive, by its extension).
//
// Writing: a format writes one file with Format.Encode or, optionally, several with
// Format.EncodeFS through a [CreateFunc] (safetensors shards and their index, ONNX
// external data, a TF.js folder); [Format.EncodeTo] picks the one it has, and
// Format.Prepare, where present, first maps a model onto what the format stores. A
// [PendingOutput] collects the files of one output in a temporary folder, so they can
// be re-read and verified before Commit moves them into place, index last; an error,
// Abort or a cancelled context leaves nothing behind.
//
// Remote storage: every path may be a URL, s3://bucket/key or https://host/path, through
// one [Storage] interface (remote.go): inputs are [File]s read with ranged requests and a
// small read-ahead cache, outputs (s3:// only) are local temporary copies streamed as
// multipart uploads that Commit completes; [ReadRemoteStats] counts the requests.
//
// Memory: decoders read headers only; tensor bytes stay in the file (memory-mapped) until
// an encoder or transform pulls them, one tensor at a time. What an input can make a
// decoder build beyond that (pickled objects, metadata arrays, inflated members) is
// charged to a per-call [Budget] of [DecodeOptions].MaxMemory bytes (default
// [DefaultMaxMemory]); past it decoding fails with [ErrBudget].
//
// Security: every input is treated as hostile. Decoders validate lengths and offsets
// against the file size before allocating, never panic on input, and never execute code
// found in a file (pickles are interpreted through an allowlist). Files one file
// references (external data, shards) are opened through [DirFS], which follows no
// symlink out of the model's folder and reads only regular files; see localfs.go.
package refit
