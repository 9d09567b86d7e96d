// Package tfcheckpoint reads TensorFlow checkpoints in the tensor-bundle format (TF 2
// tf.train.Checkpoint / tf.keras save_weights, and a SavedModel's
// variables/variables.index).
//
// Spec: tensorflow/core/util/tensor_bundle/tensor_bundle.h, the table format in
// tensorflow/core/lib/io/table_format.txt (LevelDB's), and the protos
// tensor_bundle.proto, tensor_shape.proto and types.proto.
//
// # Layout
//
// "<prefix>.index" is a sorted string table: data blocks of prefix-compressed keys
// with restart points, an index block of block handles (varint offset and size), and
// a 48-byte footer ending in the magic 0xdb4775248b80fb57. Each block carries a
// compression byte and a masked crc32c, both checked. Its "" entry is the
// BundleHeaderProto (number of shards, endianness, version); every other key names a
// tensor and holds a BundleEntryProto (dtype, shape, shard, offset, size, masked
// crc32c), decoded here by hand with protowire. Tensor bytes live in
// "<prefix>.data-NNNNN-of-NNNNN".
//
// # Tensors
//
// Tensors keep the checkpoint's key order and names, e.g.
// "layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE". DT_STRING entries (such
// as _CHECKPOINTABLE_OBJECT_GRAPH), partitioned-variable slices and unknown-rank
// shapes are skipped and listed in metadata "tfcheckpoint.skipped".
// "tfcheckpoint.producer" records the header's VersionDef producer.
//
// # Checksums
//
// Tensors are views of the data files. Reading a whole tensor in one call (what
// Tensor.Bytes does) verifies its crc32c; [Verify] checks every tensor streaming
// through a 1 MiB buffer.
//
// # Limits
//
// Snappy-compressed table blocks (TensorFlow writes uncompressed ones) and big-endian
// bundles are refused with refit.ErrUnsupported. The fixtures were written by
// testdata/gen/tfcheckpoint.py to the documented layout, not by TensorFlow, which is
// unavailable here.
//
// # Security
//
// Block handles, entry lengths and restart counts are checked against the bytes
// present before anything is allocated; blocks are capped at 64 MiB and the data
// blocks at 256 MiB in total. Shapes are overflow-checked and each entry's size must
// equal what its dtype and shape need and lie inside its data file. Data file names
// are derived from the prefix, never read from the file; through refit.DirFS, a data
// file that is a symlink out of the folder or not a regular file is refused
// (refit.ErrInsecurePath).
package tfcheckpoint
