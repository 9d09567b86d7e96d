package keras

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"path"
	"strings"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/internal/ziparchive"
	"github.com/refit-ml/refit/tensor"
)

// MaxConfig caps config.json and metadata.json read from a .keras archive.
const MaxConfig = 64 << 20

// WeightsMember is the HDF5 member of a Keras 3 .keras archive.
const WeightsMember = "model.weights.h5"

func init() {
	refit.Register(refit.Format{
		Name:       "keras",
		Extensions: []string{".keras", ".h5", ".hdf5"},
		Sniff:      Sniff,
		Decode:     Decode,
	})
}

func float32bits(f float32) uint32 { return math.Float32bits(f) }
func float64bits(f float64) uint64 { return math.Float64bits(f) }

// Sniff reports whether r is an HDF5 file or a zip archive with a model.weights.h5 member.
func Sniff(r io.ReaderAt, size int64) bool {
	if refit.HasPrefix(r, size, h5Magic) {
		return true
	}
	if !refit.HasPrefix(r, size, "PK\x03\x04") {
		return false
	}
	for _, f := range ziparchive.AllMembers(r, size) {
		if f.Name == WeightsMember {
			return true
		}
	}
	return false
}

// Decode reads a legacy Keras HDF5 file (.h5: a whole model or save_weights output) or
// a Keras 3 .keras archive. Tensors are read lazily through the HDF5 library's own
// descriptor of the file, or of a private temporary copy of the HDF5 data when r is
// not a whole local file (see the package doc); the model must be closed. Heaps and datasets are read within the
// memory budget of opts (see the package doc); opts may be nil.
func Decode(r io.ReaderAt, size int64, opts *refit.DecodeOptions) (*refit.Model, error) {
	return decode(r, size, opts.NewBudget())
}

func decode(r io.ReaderAt, size int64, budget *refit.Budget) (*refit.Model, error) {
	if refit.HasPrefix(r, size, h5Magic) {
		h, err := openH5At(r, size, budget)
		if err != nil {
			return nil, err
		}
		m, err := decodeLegacy(h)
		if err != nil {
			h.Close()
			return nil, err
		}
		m.AddCloser(h)
		return m, nil
	}
	if refit.HasPrefix(r, size, "PK\x03\x04") {
		return decodeKeras3(r, size, budget)
	}
	return nil, refit.Errorf("keras", 0, "neither an HDF5 file nor a .keras zip archive")
}

func decodeLegacy(h *h5File) (*refit.Model, error) {
	objs, err := h.walk()
	if err != nil {
		return nil, err
	}
	byPath := map[string]h5Object{}
	for _, o := range objs {
		byPath[o.path] = o
	}
	m := &refit.Model{Format: "keras"}
	m.Metadata.Set("keras.format", "h5")
	root := byPath[""]
	if root.group == nil {
		root = byPath["/"]
	}
	weightsRoot := ""
	if root.group != nil {
		for _, key := range []string{"keras_version", "backend", "model_config", "training_config"} {
			if v, ok, err := h.groupStrings(root.group, key); err != nil {
				return nil, err
			} else if ok && len(v) == 1 {
				m.Metadata.Set("keras."+key, v[0])
			}
		}
	}
	if g := byPath["/model_weights"]; g.group != nil {
		weightsRoot = "/model_weights"
		root = g
	}
	if root.group == nil {
		return nil, refit.Errorf("keras", -1, "HDF5 file has no root group")
	}
	layers, ok, err := h.groupStrings(root.group, "layer_names")
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, refit.Errorf("keras", -1, "HDF5 file has no layer_names attribute: not a Keras model or weights file")
	}
	var skipped []string
	for _, layer := range layers {
		if err := refit.CheckLocalPath("keras", "layer name", layer); err != nil {
			return nil, err
		}
		lg := byPath[weightsRoot+"/"+layer]
		if lg.group == nil {
			return nil, refit.Errorf("keras", -1, "layer %q listed in layer_names has no group", layer)
		}
		names, _, err := h.groupStrings(lg.group, "weight_names")
		if err != nil {
			return nil, err
		}
		for _, wn := range names {
			o := byPath[weightsRoot+"/"+layer+"/"+wn]
			if o.ds == nil {
				return nil, refit.Errorf("keras", -1, "weight %q of layer %q has no dataset", wn, layer)
			}
			t, err := lazyTensor(h, wn, o)
			if err != nil {
				return nil, err
			}
			if t == nil {
				skipped = append(skipped, wn)
				continue
			}
			m.Tensors = append(m.Tensors, t)
		}
	}
	if len(skipped) > 0 {
		m.Metadata.Set("keras.skipped", skipped)
	}
	return m, m.CheckNames()
}

// lazyTensor returns a tensor reading dataset o on use, or nil for dtypes Refit
// cannot read through the HDF5 library.
func lazyTensor(h *h5File, name string, o h5Object) (*tensor.Tensor, error) {
	dt, shape, err := h.info(o.ds)
	if err != nil {
		return nil, err
	}
	if dt == tensor.Invalid {
		return nil, nil
	}
	size, err := tensor.ByteSize(dt, shape)
	if err != nil {
		return nil, refit.Errorf("keras", -1, "dataset %s: shape %v: %v", o.path, shape, err)
	}
	n := shape.Elements()
	ds := o.ds
	return tensor.New(name, dt, shape, tensor.NewLazy(size, func() ([]byte, error) { return h.read(ds, dt, n) }))
}

func decodeKeras3(r io.ReaderAt, size int64, budget *refit.Budget) (*refit.Model, error) {
	z, err := ziparchive.NewReader(r, size)
	if err != nil {
		return nil, &refit.FormatError{Format: "keras", Offset: -1, Msg: "reading .keras zip", Err: err}
	}
	m := &refit.Model{Format: "keras"}
	m.Metadata.Set("keras.format", "keras")
	var weights *ziparchive.Member
	for _, f := range z.Members {
		if err := refit.CheckLocalPath("keras", "archive member", f.Name); err != nil {
			return nil, err
		}
		switch f.Name {
		case "config.json", "metadata.json":
			b, err := readMember(z, f, MaxConfig)
			if err != nil {
				return nil, err
			}
			m.Metadata.Set("keras."+strings.TrimSuffix(f.Name, ".json"), string(b))
		case WeightsMember:
			weights = f
		}
	}
	if weights == nil {
		return nil, refit.Errorf("keras", -1, ".keras archive has no %s", WeightsMember)
	}
	// DEFLATE expands at most 1032:1; a larger declared size is a lie that would fill the
	// disk, and inflating past the declared size is refused.
	declared := weights.Size
	if weights.Method != ziparchive.Store {
		if err := refit.CheckInflateRatio("keras", WeightsMember, weights.CompressedSize, declared); err != nil {
			return nil, err
		}
	}
	rc, err := z.Open(weights)
	if err != nil {
		return nil, &refit.FormatError{Format: "keras", Offset: -1, Msg: "opening " + WeightsMember, Err: err}
	}
	h, err := openH5(refit.LimitInflated("keras", WeightsMember, &zipErrReader{rc}, declared), budget)
	rc.Close()
	if err != nil {
		if errors.Is(err, ziparchive.ErrFormat) || errors.Is(err, io.ErrUnexpectedEOF) {
			err = &refit.FormatError{Format: "keras", Offset: -1, Msg: "reading " + WeightsMember, Err: err}
		}
		return nil, err
	}
	objs, err := h.walk()
	if err != nil {
		h.Close()
		return nil, err
	}
	for _, o := range objs {
		if o.ds == nil || !strings.HasPrefix(o.path, "/layers/") {
			continue // optimizer state and the top-level vars group are not weights
		}
		name := strings.TrimPrefix(o.path, "/layers/")
		t, err := lazyTensor(h, name, o)
		if err != nil {
			h.Close()
			return nil, err
		}
		if t != nil {
			m.Tensors = append(m.Tensors, t)
		}
	}
	sortKeras3(m.Tensors)
	m.AddCloser(h)
	return m, nil
}

// zipErrReader marks read errors from a zip member as malformed input.
type zipErrReader struct{ r io.Reader }

func (z *zipErrReader) Read(p []byte) (int, error) {
	n, err := z.r.Read(p)
	if err != nil && err != io.EOF {
		err = &refit.FormatError{Format: "keras", Offset: -1, Msg: "reading " + WeightsMember, Err: err}
	}
	return n, err
}

// sortKeras3 orders tensors by layer path, then by variable index numerically
// (vars/2 before vars/10), matching the layer's weight order.
func sortKeras3(ts []*tensor.Tensor) {
	key := func(name string) (string, int) {
		dir, base := path.Split(name)
		var n int
		if _, err := fmt.Sscanf(base, "%d", &n); err != nil {
			return name, -1
		}
		return dir, n
	}
	for i := 1; i < len(ts); i++ {
		for j := i; j > 0; j-- {
			ad, an := key(ts[j-1].Name)
			bd, bn := key(ts[j].Name)
			if ad < bd || (ad == bd && an <= bn) {
				break
			}
			ts[j-1], ts[j] = ts[j], ts[j-1]
		}
	}
}

func readMember(z *ziparchive.Reader, f *ziparchive.Member, limit int64) ([]byte, error) {
	if f.Size > limit {
		return nil, refit.Errorf("keras", -1, "%s is %d bytes, more than %d", f.Name, f.Size, limit)
	}
	rc, err := z.Open(f)
	if err != nil {
		return nil, &refit.FormatError{Format: "keras", Offset: -1, Msg: "opening " + f.Name, Err: err}
	}
	defer rc.Close()
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, io.LimitReader(rc, limit+1)); err != nil {
		return nil, &refit.FormatError{Format: "keras", Offset: -1, Msg: "reading " + f.Name, Err: err}
	}
	if int64(buf.Len()) > limit {
		return nil, refit.Errorf("keras", -1, "%s exceeds %d bytes", f.Name, limit)
	}
	return buf.Bytes(), nil
}
