package tfjs

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"math"
	"path"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/tensor"
)

// MaxModelJSON caps the size of model.json read into memory.
const MaxModelJSON = 256 << 20

// DefaultName is the file DecodeFS reads when given a folder.
const DefaultName = "model.json"

func init() {
	refit.Register(refit.Format{
		Name:       "tfjs",
		Extensions: []string{".json"},
		Sniff:      Sniff,
		Decode:     Decode,
		DecodeFS:   DecodeFS,
		SniffFS:    SniffFS,
		EncodeFS:   EncodeFS,
		Prepare:    Prepare,
		Folder:     true,
	})
}

// ModelJSON is the part of a TF.js model.json that Refit reads. Topology is kept
// verbatim: a Keras model config for layers models, a GraphDef as JSON for graph models.
type ModelJSON struct {
	Format        string          `json:"format,omitempty"`
	GeneratedBy   string          `json:"generatedBy,omitempty"`
	ConvertedBy   string          `json:"convertedBy,omitempty"`
	ModelTopology json.RawMessage `json:"modelTopology,omitempty"`
	// Signature (graph models; tfjs-converter also writes it under
	// userDefinedMetadata) names the inputs and outputs.
	Signature           json.RawMessage `json:"signature,omitempty"`
	UserDefinedMetadata json.RawMessage `json:"userDefinedMetadata,omitempty"`
	WeightsManifest     []ManifestGroup `json:"weightsManifest"`
}

// ManifestGroup is one weight group: its weights are stored back to back across
// the shard files in Paths, in order.
type ManifestGroup struct {
	Paths   []string     `json:"paths"`
	Weights []WeightSpec `json:"weights"`
}

// WeightSpec describes one weight of a manifest group.
type WeightSpec struct {
	Name         string        `json:"name"`
	Shape        []int64       `json:"shape"`
	DType        string        `json:"dtype"`
	Quantization *Quantization `json:"quantization,omitempty"`
}

// Quantization describes how a weight is stored when it is not stored as DType.
// Dtype uint8 and uint16 store q with value = q*Scale + Min; float16 stores IEEE halves.
type Quantization struct {
	DType         string   `json:"dtype"`
	Scale         *float64 `json:"scale,omitempty"`
	Min           *float64 `json:"min,omitempty"`
	OriginalDType string   `json:"original_dtype,omitempty"`
}

// Sniff reports whether r is a JSON object with a "weightsManifest" key.
func Sniff(r io.ReaderAt, size int64) bool {
	if size > MaxModelJSON {
		return false
	}
	var first [64]byte
	n, _ := r.ReadAt(first[:], 0)
	trim := bytes.TrimLeft(first[:n], " \t\r\n")
	if len(trim) == 0 || trim[0] != '{' {
		return false
	}
	const key = `"weightsManifest"`
	const chunk = 1 << 16
	buf := make([]byte, chunk+len(key))
	for off := int64(0); off < size; off += chunk {
		n, _ := r.ReadAt(buf, off)
		if bytes.Contains(buf[:n], []byte(key)) {
			return true
		}
	}
	return false
}

// SniffFS reports whether fsys holds a model.json with a weights manifest.
func SniffFS(fsys fs.FS) bool {
	f, err := refit.OpenFS(fsys, DefaultName)
	if err != nil {
		return false
	}
	defer f.Close()
	return Sniff(f, f.Size())
}

// ParseModelJSON parses model.json. It checks structure, not shard sizes.
func ParseModelJSON(r io.ReaderAt, size int64) (*ModelJSON, error) {
	if size > MaxModelJSON {
		return nil, refit.Errorf("tfjs", -1, "model.json is %d bytes, more than the %d allowed", size, MaxModelJSON)
	}
	b := make([]byte, size)
	if n, err := r.ReadAt(b, 0); n != len(b) {
		return nil, &refit.FormatError{Format: "tfjs", Offset: int64(n), Msg: "reading model.json", Err: err}
	}
	var mj ModelJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&mj); err != nil {
		return nil, &refit.FormatError{Format: "tfjs", Offset: dec.InputOffset(), Msg: "model.json", Err: err}
	}
	if mj.WeightsManifest == nil {
		return nil, refit.Errorf("tfjs", -1, "model.json has no weightsManifest")
	}
	return &mj, nil
}

// Decode reads a model.json whose weights need no shard files (an empty manifest or
// only empty tensors). Use DecodeFS for models with shards. opts may be nil; no option
// applies to TF.js.
func Decode(r io.ReaderAt, size int64, _ *refit.DecodeOptions) (*refit.Model, error) {
	mj, err := ParseModelJSON(r, size)
	if err != nil {
		return nil, err
	}
	for _, g := range mj.WeightsManifest {
		if len(g.Paths) > 0 {
			return nil, refit.Unsupportedf("tfjs", "model.json names shard files; open its folder (DecodeFS)")
		}
	}
	return build(mj, func(string) (refit.File, error) { return nil, fs.ErrNotExist })
}

// DecodeFS reads name (a model.json, or "." for DefaultName in the folder) and its
// shard files, which are resolved relative to name's folder. Tensors read lazily
// from the shards; the model must be closed. opts may be nil; no option applies to TF.js.
func DecodeFS(fsys fs.FS, name string, _ *refit.DecodeOptions) (*refit.Model, error) {
	if name == "." || name == "" {
		name = DefaultName
	}
	f, err := refit.OpenFS(fsys, name)
	if err != nil {
		return nil, err
	}
	mj, err := ParseModelJSON(f, f.Size())
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	dir := path.Dir(name)
	m, err := build(mj, func(p string) (refit.File, error) {
		return refit.OpenFS(fsys, path.Join(dir, p))
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return m, nil
}

type storage struct {
	dtype    tensor.DType // of the tensor produced
	stored   int          // bytes per stored element; 0 for strings
	quant    string       // "", "uint8", "uint16", "float16"
	scale    float64
	min      float64
	intRound bool // dequantized values are rounded to int32
}

func storageOf(w *WeightSpec) (storage, error) {
	var s storage
	switch w.DType {
	case "float32":
		s = storage{dtype: tensor.F32, stored: 4}
	case "int32":
		s = storage{dtype: tensor.I32, stored: 4}
	case "bool":
		s = storage{dtype: tensor.Bool, stored: 1}
	case "string":
		s = storage{}
	default:
		return s, refit.Unsupportedf("tfjs", "weight %q: dtype %q", w.Name, w.DType)
	}
	q := w.Quantization
	if q == nil {
		return s, nil
	}
	switch q.DType {
	case "uint8", "uint16":
		if w.DType != "float32" && w.DType != "int32" {
			return s, refit.Errorf("tfjs", -1, "weight %q: %s quantization of dtype %q", w.Name, q.DType, w.DType)
		}
		if q.Scale == nil || q.Min == nil {
			return s, refit.Errorf("tfjs", -1, "weight %q: %s quantization without scale and min", w.Name, q.DType)
		}
		if math.IsNaN(*q.Scale) || math.IsInf(*q.Scale, 0) || math.IsNaN(*q.Min) || math.IsInf(*q.Min, 0) {
			return s, refit.Errorf("tfjs", -1, "weight %q: non-finite scale or min", w.Name)
		}
		s.quant, s.scale, s.min, s.intRound = q.DType, *q.Scale, *q.Min, w.DType == "int32"
		s.stored = 1
		if q.DType == "uint16" {
			s.stored = 2
		}
	case "float16":
		if w.DType != "float32" {
			return s, refit.Errorf("tfjs", -1, "weight %q: float16 quantization of dtype %q", w.Name, w.DType)
		}
		s.quant, s.stored = "float16", 2
	default:
		return s, refit.Unsupportedf("tfjs", "weight %q: quantization dtype %q", w.Name, q.DType)
	}
	return s, nil
}

// build opens each group's shards and lays its weights out over their concatenation.
func build(mj *ModelJSON, open func(p string) (refit.File, error)) (m *refit.Model, err error) {
	m = &refit.Model{Format: "tfjs"}
	defer func() {
		if err != nil {
			m.Close()
			m = nil
		}
	}()
	if mj.Format != "" {
		m.Metadata.Set("tfjs.format", mj.Format)
	}
	if mj.GeneratedBy != "" {
		m.Metadata.Set("tfjs.generated_by", mj.GeneratedBy)
	}
	if mj.ConvertedBy != "" {
		m.Metadata.Set("tfjs.converted_by", mj.ConvertedBy)
	}
	if len(mj.ModelTopology) > 0 && string(mj.ModelTopology) != "null" {
		m.Metadata.Set("tfjs.model_topology", string(mj.ModelTopology))
	}
	seen := map[string]bool{}
	for gi, g := range mj.WeightsManifest {
		var parts []refit.File
		for _, p := range g.Paths {
			if err := refit.CheckLocalPath("tfjs", "shard path", p); err != nil {
				return m, err
			}
			f, err := open(p)
			if err != nil {
				return m, fmt.Errorf("tfjs: group %d: %w", gi, err)
			}
			m.AddCloser(f)
			parts = append(parts, f)
		}
		data := newConcat(parts)
		var off int64
		for wi := range g.Weights {
			w := &g.Weights[wi]
			if w.Name == "" || seen[w.Name] {
				return m, refit.Errorf("tfjs", -1, "group %d: empty or duplicate weight name %q", gi, w.Name)
			}
			seen[w.Name] = true
			t, n, err := weight(w, data, off)
			if err != nil {
				return m, err
			}
			off += n
			if t != nil {
				m.Tensors = append(m.Tensors, t)
				if w.Quantization != nil {
					m.Metadata.Set("tfjs.quantization."+w.Name, w.Quantization.DType)
				}
			}
		}
	}
	return m, nil
}

// weight returns the tensor stored at off in data (nil for strings, which Refit
// does not represent) and the number of bytes it occupies.
func weight(w *WeightSpec, data *concat, off int64) (*tensor.Tensor, int64, error) {
	st, err := storageOf(w)
	if err != nil {
		return nil, 0, err
	}
	shape := tensor.Shape(w.Shape)
	n, err := shape.NumElements()
	if err != nil {
		return nil, 0, refit.Errorf("tfjs", -1, "weight %q: shape %v: %v", w.Name, w.Shape, err)
	}
	left := data.Size() - off
	if st.stored == 0 {
		size, err := stringBytes(data, off, n)
		if err != nil {
			return nil, 0, fmt.Errorf("tfjs: weight %q: %w", w.Name, err)
		}
		return nil, size, nil
	}
	if n > left/int64(st.stored) {
		return nil, 0, refit.Errorf("tfjs", -1, "weight %q: %v elements need %d-byte each, only %d bytes left in the shards", w.Name, w.Shape, st.stored, left)
	}
	size := n * int64(st.stored)
	raw := io.NewSectionReader(data, off, size)
	if st.quant == "" {
		t, err := tensor.New(w.Name, st.dtype, shape.Clone(), raw)
		return t, size, err
	}
	outSize, err := tensor.ByteSize(st.dtype, shape)
	if err != nil {
		return nil, 0, refit.Errorf("tfjs", -1, "weight %q: %v", w.Name, err)
	}
	lazy := tensor.NewLazy(outSize, func() ([]byte, error) {
		b := make([]byte, size)
		if k, err := raw.ReadAt(b, 0); int64(k) != size {
			return nil, &refit.FormatError{Format: "tfjs", Offset: -1, Msg: "reading weight " + w.Name, Err: err}
		}
		return dequantize(b, n, st), nil
	})
	t, err := tensor.New(w.Name, st.dtype, shape.Clone(), lazy)
	return t, size, err
}

// Dequantize converts stored values to float32 (or int32) bytes as TF.js does:
// float32(q*scale + min) computed in float64; int32 weights are rounded like
// JavaScript's Math.round (half up).
func dequantize(b []byte, n int64, st storage) []byte {
	out := make([]byte, n*4)
	if st.quant == "float16" {
		f := make([]float32, n)
		tensor.ConvertF16ToF32(f, b)
		return tensor.EncodeFloat32(out[:0], f)
	}
	for i := int64(0); i < n; i++ {
		var q float64
		if st.quant == "uint8" {
			q = float64(b[i])
		} else {
			q = float64(uint16(b[2*i]) | uint16(b[2*i+1])<<8)
		}
		v := q*st.scale + st.min
		var bits uint32
		if st.intRound {
			bits = uint32(int32(math.Max(math.MinInt32, math.Min(math.MaxInt32, math.Floor(v+0.5)))))
		} else {
			bits = math.Float32bits(float32(v))
		}
		out[4*i], out[4*i+1], out[4*i+2], out[4*i+3] = byte(bits), byte(bits>>8), byte(bits>>16), byte(bits>>24)
	}
	return out
}

// stringBytes walks n strings (each a uint32 little-endian length and its bytes)
// starting at off and returns their total size.
func stringBytes(data *concat, off, n int64) (int64, error) {
	start := off
	var lb [4]byte
	for i := int64(0); i < n; i++ {
		if data.Size()-off < 4 {
			return 0, refit.Errorf("tfjs", off, "string %d of %d: truncated length", i, n)
		}
		if _, err := data.ReadAt(lb[:], off); err != nil {
			return 0, &refit.FormatError{Format: "tfjs", Offset: off, Msg: "reading string length", Err: err}
		}
		l := int64(uint32(lb[0]) | uint32(lb[1])<<8 | uint32(lb[2])<<16 | uint32(lb[3])<<24)
		off += 4
		if l > data.Size()-off {
			return 0, refit.Errorf("tfjs", off, "string %d of %d: length %d beyond the shards", i, n, l)
		}
		off += l
	}
	return off - start, nil
}
