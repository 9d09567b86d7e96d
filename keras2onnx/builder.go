package keras2onnx

import (
	"crypto/sha256"
	"fmt"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/graph"
	"github.com/refit-ml/refit/tensor"
)

// ONNX element types used here.
const (
	onnxFloat = graph.ElemFloat
	onnxInt32 = graph.ElemInt32
	onnxInt64 = graph.ElemInt64
	onnxBool  = 9
)

// value is a tensor of the graph being built. shape is the Keras shape (batch first,
// -1 for unknown); cf says the ONNX tensor holds it channels-first, i.e. with the last
// Keras axis moved to position 1 (only for rank >= 3).
type value struct {
	name  string
	shape []int64
	cf    bool
	elem  int32
	twin  *value // the same tensor in the other layout, once made
	mask  string // a [batch, steps] bool tensor: Keras' mask over the time axis, "" for none
}

func (v *value) rank() int { return len(v.shape) }

// channels is the size of the last Keras axis.
func (v *value) channels() int64 { return v.shape[len(v.shape)-1] }

// spatial returns the Keras spatial dims (between batch and channels).
func (v *value) spatial() []int64 { return v.shape[1 : len(v.shape)-1] }

// builder accumulates the ONNX graph, with the Keras model's weights and layout.
type builder struct {
	graph.Builder
	weights map[string]*tensor.Tensor
	wnames  []string
	keras3  bool
	tfjs    bool
	opset   int64
	scope   []string            // names of the nested models being converted, outermost first
	alias   map[string][]string // weight prefixes of layers made up by wrappers, by layer name
	floats  map[floatKey]string // initializers made so far, to share between calls of a layer
	read    int64               // weight elements read so far
	budget  int64               // the most weight elements the conversion may read
}

// floatKey identifies a float initializer by content.
type floatKey struct {
	dims string
	sum  [sha256.Size]byte
}

// readsPerWeight bounds how often a conversion may read each weight on average: shared
// layers and nested models called several times read theirs once per call, and a
// config calling one large layer millions of times must not take hours.
const readsPerWeight = 64

func newBuilder(w *refit.Model, keras3 bool, opset int64) *builder {
	b := &builder{weights: map[string]*tensor.Tensor{}, keras3: keras3, opset: opset, alias: map[string][]string{},
		floats: map[floatKey]string{}, budget: maxDefaultWeight}
	b.Names.Clean = func(base string) string { return strings.ReplaceAll(base, ":", "_") }
	if w != nil {
		for _, t := range w.Tensors {
			b.weights[t.Name] = t
			b.wnames = append(b.wnames, t.Name)
			if n, err := t.Shape.NumElements(); err == nil {
				b.budget += readsPerWeight * n
			}
		}
	}
	return b
}

// Float adds a float32 initializer, or returns the one already made with the same
// dims and values, so that a layer called several times (shared layers, nested
// models) keeps one copy of its weights.
func (b *builder) Float(base string, dims []int64, v []float32) string {
	if len(v) < 8 { // scalars and small constants: not worth a lookup
		return b.Builder.Float(base, dims, v)
	}
	tp := graph.FloatTensor("", dims, v)
	k := floatKey{dims: fmt.Sprint(dims), sum: sha256.Sum256(tp.GetRawData())}
	if name, ok := b.floats[k]; ok {
		return name
	}
	tp.Name = proto.String(b.Names.Fresh(base))
	name := b.Initializer(tp)
	b.floats[k] = name
	return name
}

func (b *builder) scalar(base string, f float64) string {
	return b.Float(base, nil, []float32{float32(f)})
}

// cfPerm moves the last axis to position 1; kerasPerm undoes it.
func cfPerm(r int) []int64 {
	p := []int64{0, int64(r - 1)}
	for i := 1; i < r-1; i++ {
		p = append(p, int64(i))
	}
	return p
}

func kerasPerm(r int) []int64 {
	p := []int64{0}
	for i := 2; i < r; i++ {
		p = append(p, int64(i))
	}
	return append(p, 1)
}

// toCF returns v stored channels-first (a Transpose, made once per value).
func (b *builder) toCF(v *value) *value {
	if v.cf || v.rank() < 3 {
		return v
	}
	if v.twin == nil {
		name := b.Op("Transpose", v.name+"_nchw", []string{v.name}, graph.IntsAttr("perm", cfPerm(v.rank())))
		v.twin = &value{name: name, shape: v.shape, cf: true, elem: v.elem, twin: v, mask: v.mask}
	}
	return v.twin
}

// toKeras returns v in Keras (channels-last) order.
func (b *builder) toKeras(v *value) *value {
	if !v.cf {
		return v
	}
	if v.twin == nil {
		name := b.Op("Transpose", v.name+"_nhwc", []string{v.name}, graph.IntsAttr("perm", kerasPerm(v.rank())))
		v.twin = &value{name: name, shape: v.shape, cf: false, elem: v.elem, twin: v, mask: v.mask}
	}
	return v.twin
}

// axis maps a Keras axis (negative counts from the end) of v to the ONNX tensor's axis.
func axisOf(v *value, axis int64) (int64, bool) {
	r := int64(v.rank())
	if axis < 0 {
		axis += r
	}
	if axis < 0 || axis >= r {
		return 0, false
	}
	if !v.cf || axis == 0 {
		return axis, true
	}
	if axis == r-1 {
		return 1, true
	}
	return axis + 1, true
}

// weight finds a layer's weight by Keras name, accepting the names writers use:
// "<layer>/<w>:0" (h5), "<layer>/<w>" (TF.js), "<layer>/vars/<i>" (Keras 3, i = the
// weight's position among the layer's weights), "<layer>/<cell>/<w>[:0]" (RNN cells).
// names lists alternative Keras names of the same weight.
func (b *builder) weight(layerName string, index int, names ...string) (*tensor.Tensor, error) {
	for _, p := range b.prefixes(layerName) {
		if t := b.weightAt(p, index, names); t != nil {
			return t, nil
		}
	}
	return nil, fmt.Errorf("%w: layer %q: weight %q not found", refit.ErrFormat, layerName, names[0])
}

// prefixes lists where a layer's weights may be, most specific first: the prefixes a
// wrapper registered for the layers it makes up, or, inside nested models, the Keras 3
// path ("outer/layers/inner/layers/dense"), the h5 group path ("outer/inner/dense"),
// then the bare name (Keras 2 and TF.js name weights after the layer alone).
func (b *builder) prefixes(layerName string) []string {
	if p, ok := b.alias[layerName]; ok {
		return p
	}
	if len(b.scope) == 0 {
		return []string{layerName}
	}
	return []string{strings.Join(b.scope, "/layers/") + "/layers/" + layerName,
		strings.Join(b.scope, "/") + "/" + layerName, layerName}
}

func (b *builder) weightAt(prefix string, index int, names []string) *tensor.Tensor {
	for _, w := range names {
		for _, n := range []string{prefix + "/" + w + ":0", prefix + "/" + w} {
			if t := b.weights[n]; t != nil {
				return t
			}
		}
	}
	idx := strconv.Itoa(index)
	for _, n := range []string{prefix + "/vars/" + idx, prefix + "/cell/vars/" + idx} {
		if t := b.weights[n]; t != nil {
			return t
		}
	}
	for _, n := range b.wnames {
		if !strings.HasPrefix(n, prefix+"/") {
			continue
		}
		base := strings.TrimSuffix(n, ":0")
		for _, w := range names {
			if strings.HasSuffix(base, "/"+w) {
				return b.weights[n]
			}
		}
	}
	return nil
}

// weightF32 reads a weight as float32 and checks its shape.
// Entries of want below zero match any size; the tensor's shape is returned.
func (b *builder) weightF32(layerName string, index int, want []int64, names ...string) ([]float32, []int64, error) {
	t, err := b.weight(layerName, index, names...)
	if err != nil {
		return nil, nil, err
	}
	n, err := t.Shape.NumElements()
	if err != nil {
		return nil, nil, fmt.Errorf("%w: layer %q: weight %q: %v", refit.ErrFormat, layerName, t.Name, err)
	}
	if b.read += n; b.read > b.budget {
		return nil, nil, fmt.Errorf("%w: layer %q: the config calls layers so often that the conversion would read %d weight values, more than %d per weight",
			refit.ErrUnsupported, layerName, b.read, readsPerWeight)
	}
	if want != nil && !sameShape(t.Shape, want) {
		return nil, nil, fmt.Errorf("%w: layer %q: weight %q has shape %v, want %v", refit.ErrFormat, layerName, t.Name, t.Shape, want)
	}
	v, err := t.Float32s()
	if err != nil {
		return nil, nil, fmt.Errorf("layer %q: %w", layerName, err)
	}
	return v, []int64(t.Shape), nil
}

func sameShape(a tensor.Shape, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if b[i] >= 0 && a[i] != b[i] {
			return false
		}
	}
	return true
}

// permute returns data of the given shape with its axes permuted (out axis i = in axis perm[i]).
func permute(data []float32, shape []int64, perm []int) ([]float32, []int64) {
	r := len(shape)
	outShape := make([]int64, r)
	for i, p := range perm {
		outShape[i] = shape[p]
	}
	inStride := make([]int64, r)
	s := int64(1)
	for i := r - 1; i >= 0; i-- {
		inStride[i] = s
		s *= shape[i]
	}
	out := make([]float32, len(data))
	idx := make([]int64, r)
	for o := range out {
		var off int64
		for i := range r {
			off += idx[i] * inStride[perm[i]]
		}
		out[o] = data[off]
		for i := r - 1; i >= 0; i-- {
			idx[i]++
			if idx[i] < outShape[i] {
				break
			}
			idx[i] = 0
		}
	}
	return out, outShape
}

func ones(n int64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = 1
	}
	return v
}
