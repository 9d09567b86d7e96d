// Package keras reads Keras weights: legacy HDF5 files (.h5 from model.save or
// save_weights in Keras 2) and Keras 3 .keras archives (a zip of config.json,
// metadata.json and model.weights.h5).
//
// # Layout and names
//
// Legacy files list their layers in the "layer_names" attribute of the root (weights
// only) or of the "model_weights" group (whole model); each layer group lists its
// weights in "weight_names", stored as datasets <layer>/<weight name>. Tensors are
// named by weight name ("dense/kernel:0") in that order. Root attributes keras_version,
// backend, model_config and training_config become metadata "keras.<attr>".
//
// Keras 3 stores variables unnamed as layers/<layer>/vars/<i> in the layer's weight
// order; tensors are named "<layer>/vars/<i>" (the layers/ prefix dropped), sorted by
// layer path and numeric index. Optimizer state is skipped. config.json and
// metadata.json become metadata "keras.config" and "keras.metadata". The
// layout package maps both naming schemes to PyTorch module paths.
//
// # HDF5
//
// HDF5 is read by github.com/scigolib/hdf5 (pure Go) behind a small wrapper. That
// library opens files by name only (it cannot read from an io.ReaderAt) and returns
// datasets as float64, so: a legacy .h5 file given as a whole local file (*os.File or
// refit.MappedFile, as refit.Open passes it) is opened by the library through
// /proc/self/fd on Linux, without a copy; otherwise (a .keras archive member, a reader
// in memory, other systems) the HDF5 bytes are copied to a temporary file that is
// unlinked before the copy starts and opened through /proc/self/fd on Linux
// (elsewhere: as soon as it is open), so disk use equals the HDF5 data and nothing is
// left behind, even by a killed process; tensors are read whole and converted to the
// dataset's own type (float32, float64, int32, int64; int64 values beyond 2^53 lose
// precision) when pulled, one at a time. Other dataset types (float16, bool enums,
// strings) are skipped and listed in metadata "keras.skipped".
//
// # Security
//
// Layer and member names from the file must be valid fs paths (refit.ErrInsecurePath).
// Config members are capped at [MaxConfig]; the weights member's declared size must be
// reachable by DEFLATE's maximum ratio, and ziparchive stops at the declared size and
// checks the CRC. The HDF5 library may panic on malformed files; every call into it
// recovers and reports refit.ErrFormat.
//
// scigolib/hdf5 v0.14.1 allocates some sizes read from the file before checking them,
// and a Go allocation that large aborts the process (no recover catches it). Fuzzing
// found three such sites; the wrapper now refuses them first: local heap and global
// heap collection sizes larger than the file (found by scanning for the signatures the
// library accepts: "HEAP" with any version byte, "GCOL" version 1), attribute
// dataspaces with more elements than data bytes, and datasets larger than 1032 times the
// file (gzip's bound). testdata/oom-crasher.h5.bin is the first crasher.
//
// Memory: the heaps found and every dataset read (8+2*itemsize bytes per element: the
// stored bytes, the library's float64s, the result) are charged to the call's memory
// budget (refit.DecodeOptions.MaxMemory; Decode uses refit.DefaultMaxMemory) before the
// library allocates them, and stay charged; past it, reads fail with refit.ErrBudget.
// Not covered: a gzip chunk that inflates past its chunk's size (the library inflates
// each chunk whole before copying it), which the wrapper cannot see without parsing the
// chunk index.
// About 11,000 random mutations of the fixtures and coverage-guided fuzzing found no
// further crash, but the library's other paths are not audited: prefer trusted files.
//
// Fixtures are written by testdata/gen/tfkeras.py with h5py to the layouts Keras
// writes; Keras itself is not available here.
package keras
