package numpy

import (
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/tensor"
)

func init() {
	refit.Register(refit.Format{
		Name:       "numpy",
		Extensions: []string{".npy", ".npz"},
		Sniff:      Sniff,
		Decode:     Decode,
		DecodeFS:   DecodeFS,
		Encode:     func(w io.Writer, m *refit.Model) error { return Encode(w, m, nil) },
		EncodeFS:   EncodeFS,
	})
}

// Sniff reports whether r is a .npy array (by its magic) or a .npz archive
// (a zip whose members are all .npy arrays).
func Sniff(r io.ReaderAt, size int64) bool {
	return refit.HasPrefix(r, size, Magic) || sniffNPZ(r, size)
}

// Decode reads a .npy array or a .npz archive, telling them apart by their magic.
// A .npy array becomes one tensor named DefaultName; each .npz member "x.npy"
// becomes a tensor named "x", in archive order. Metadata is empty. Deflated members are
// inflated within the memory budget of opts (see the package doc); opts may be nil.
func Decode(r io.ReaderAt, size int64, opts *refit.DecodeOptions) (*refit.Model, error) {
	return decode(r, size, opts.NewBudget())
}

func decode(r io.ReaderAt, size int64, budget *refit.Budget) (*refit.Model, error) {
	if refit.HasPrefix(r, size, Magic) {
		t, err := ReadNPY(r, size)
		if err != nil {
			return nil, err
		}
		return &refit.Model{Format: "numpy", Tensors: []*tensor.Tensor{t}}, nil
	}
	if refit.HasPrefix(r, size, "PK\x03\x04") || refit.HasPrefix(r, size, "PK\x05\x06") {
		return decodeNPZ(r, size, budget)
	}
	return nil, refit.Errorf("numpy", 0, "neither a .npy array (magic %q) nor a .npz zip archive", Magic)
}

// DecodeFS opens name in fsys and decodes it like Decode, except that the tensor of a
// .npy file is named after the file ("weights.npy" gives "weights"), as numpy.savez
// names archive members. The model keeps the file open until closed. opts may be nil.
func DecodeFS(fsys fs.FS, name string, opts *refit.DecodeOptions) (*refit.Model, error) {
	return decodeFS(fsys, name, opts.NewBudget())
}

func decodeFS(fsys fs.FS, name string, budget *refit.Budget) (*refit.Model, error) {
	if name == "." {
		return nil, refit.Unsupportedf("numpy", "reading a folder; name a .npy or .npz file")
	}
	f, err := refit.OpenFS(fsys, name)
	if err != nil {
		return nil, err
	}
	m, err := decode(f, f.Size(), budget)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	m.AddCloser(f)
	if stem := strings.TrimSuffix(path.Base(name), path.Ext(name)); stem != "" && stem != "." &&
		refit.HasPrefix(f, f.Size(), Magic) {
		m.Tensors[0].Name = stem
	}
	return m, nil
}

// EncodeOptions are the choices for writing a .npz archive. The zero value writes
// uncompressed (stored) members, as numpy.savez does.
type EncodeOptions struct {
	// Compress deflates every member, as numpy.savez_compressed does.
	Compress bool
}

// Encode writes m's tensors as a .npz archive; opts nil means defaults. NumPy archives
// have no metadata, so m.Metadata is not written. Use EncodeNPY for a single .npy array.
func Encode(w io.Writer, m *refit.Model, opts *EncodeOptions) error {
	if opts == nil {
		opts = &EncodeOptions{}
	}
	return WriteNPZ(w, m.Tensors, opts.Compress)
}
