// Package ziparchive reads zip archives the way the Python loaders of model files read
// them, and refuses archives that two of those loaders would read differently.
//
// torch.load reads .pt archives with miniz 2.1 (PyTorch's caffe2/serialize/inline_container.cc);
// numpy.load and Keras read .npz and .keras archives with Python's zipfile. They do not read a
// zip the same way:
//
//   - End record: zipfile takes a record at the very end of the file with no comment, else
//     the last "PK\x05\x06" in the last 64 KiB + 22 bytes (and gives up if that one is cut
//     short); miniz takes the last signature with 22 bytes after it.
//   - Zip64: both use the zip64 end record whenever a locator precedes the end record, even
//     when the end record's own fields are not saturated; zipfile reads the zip64 record
//     right before the locator, miniz reads it where the locator points (absolute offset).
//   - Offsets: zipfile corrects every offset for data prepended to the archive (the end
//     record's position minus the directory's size and offset); miniz takes them as absolute.
//   - Entries: zipfile reads entries until it has consumed the directory's size, miniz reads
//     the entry count; zipfile cuts names at a NUL byte and checks that the local header
//     names the member as the directory does; miniz looks names up ignoring ASCII case.
//
// NewReader builds both readings (Go's archive/zip is a third, close to zipfile but trying
// absolute offsets first). When both succeed and differ, or when one reading is ambiguous by
// itself (two members of one name, a name holding NUL, members whose bytes overlap, a local
// header naming a member differently), NewReader fails with an error wrapping ErrAmbiguous;
// Lookup, which compares names ignoring case as torch does, fails the same way when two
// names differ only by case: a scanner cannot vouch for such a file and a converter cannot know
// which tensors the user's loader would see. When only one reading succeeds, it is used (the
// other loader cannot open the file at all).
//
// Every member is opened through Reader.Open, so decompression limits wrap one function.
//
// Memory: the central directory is read once (at most its declared size, which must fit in
// the file); members are io.SectionReader views or streaming decompressors.
package ziparchive
