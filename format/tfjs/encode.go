package tfjs

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/tensor"
)

// DefaultShardSize is the shard size the TF.js converter uses (4 MiB).
const DefaultShardSize = 4 << 20

// EncodeOptions are the choices for writing a TF.js model. The zero value means defaults.
type EncodeOptions struct {
	ShardSize int64 // bytes per shard file; 0 means DefaultShardSize
}

// Creator creates the named output file (a name inside the output folder, such as
// "model.json" or "group1-shard1of2.bin").
type Creator = refit.CreateFunc

// EncodeFS is EncodeFiles for the registry: model.json and shards of opts.ShardSize
// bytes (0 means DefaultShardSize).
func EncodeFS(create refit.CreateFunc, m *refit.Model, opts *refit.EncodeOptions) error {
	o := &EncodeOptions{}
	if opts != nil {
		o.ShardSize = opts.ShardSize
	}
	return EncodeFiles(create, m, o)
}

// ShardName is the name of shard i (from 1) of n, as the TF.js converter names them.
func ShardName(i, n int) string { return fmt.Sprintf("group1-shard%dof%d.bin", i, n) }

// storedAs is the TF.js dtype a tensor is written as, with the cast it needs.
func storedAs(t *tensor.Tensor) (*tensor.Tensor, WeightSpec, error) {
	spec := WeightSpec{Name: t.Name, Shape: []int64(t.Shape.Clone())}
	if spec.Shape == nil {
		spec.Shape = []int64{}
	}
	switch t.DType {
	case tensor.F32:
		spec.DType = "float32"
		return t, spec, nil
	case tensor.I32:
		spec.DType = "int32"
		return t, spec, nil
	case tensor.Bool:
		spec.DType = "bool"
		return t, spec, nil
	case tensor.F16:
		// Lossless: TF.js reads float16-quantized weights back as float32.
		spec.DType = "float32"
		spec.Quantization = &Quantization{DType: "float16", OriginalDType: "float32"}
		return t, spec, nil
	case tensor.F64, tensor.BF16:
		spec.DType = "float32" // TF.js has no float64 or bfloat16, as its converter does
		c, err := tensor.Cast(t, tensor.F32)
		return c, spec, err
	case tensor.I8, tensor.U8, tensor.I16, tensor.U16:
		spec.DType = "int32" // exact
		c, err := tensor.Cast(t, tensor.I32)
		return c, spec, err
	}
	return nil, spec, refit.Unsupportedf("tfjs", "tensor %q: %v has no TF.js dtype", t.Name, t.DType)
}

// EncodeFiles writes m as a TF.js model: model.json with one weight group and its
// shard files, streaming one tensor at a time. A model decoded from TF.js keeps its
// topology and format; any other model gets a weights-only model.json (no
// modelTopology), loadable with tf.io.loadWeights. Tensors are stored as float32,
// int32, bool, or float16 (for F16 tensors); F64 and BF16 become float32 and 8/16-bit
// integers int32. Output is deterministic.
func EncodeFiles(create Creator, m *refit.Model, opts *EncodeOptions) error {
	shardSize := int64(DefaultShardSize)
	if opts != nil && opts.ShardSize > 0 {
		shardSize = opts.ShardSize
	}
	if err := m.CheckNames(); err != nil {
		return err
	}
	tensors := make([]*tensor.Tensor, len(m.Tensors))
	specs := make([]WeightSpec, len(m.Tensors))
	var total int64
	for i, t := range m.Tensors {
		c, spec, err := storedAs(t)
		if err != nil {
			return err
		}
		tensors[i], specs[i] = c, spec
		total += c.Size()
	}
	n := int((total + shardSize - 1) / shardSize)
	paths := make([]string, n)
	for i := range paths {
		paths[i] = ShardName(i+1, n)
	}
	sw := &shardWriter{create: create, paths: paths, size: shardSize}
	for _, t := range tensors {
		if _, err := t.WriteTo(sw); err != nil {
			sw.close()
			return fmt.Errorf("tfjs: writing %q: %w", t.Name, err)
		}
	}
	if err := sw.close(); err != nil {
		return err
	}
	if sw.i != n && !(n == 0 && sw.i == 0) {
		return fmt.Errorf("tfjs: wrote %d shards, planned %d", sw.i, n)
	}
	mj := ModelJSON{ConvertedBy: "refit", WeightsManifest: []ManifestGroup{{Paths: paths, Weights: specs}}}
	if mj.WeightsManifest[0].Paths == nil {
		mj.WeightsManifest[0].Paths = []string{}
	}
	if m.Format == "tfjs" {
		mj.Format = m.Metadata.String("tfjs.format")
		mj.GeneratedBy = m.Metadata.String("tfjs.generated_by")
		if topo := m.Metadata.String("tfjs.model_topology"); topo != "" && json.Valid([]byte(topo)) {
			mj.ModelTopology = json.RawMessage(topo)
		}
	}
	b, err := json.MarshalIndent(mj, "", " ")
	if err != nil {
		return err
	}
	return create.WriteFile(DefaultName, append(b, '\n'))
}

// shardWriter spreads a byte stream over fixed-size shard files, opening each lazily.
type shardWriter struct {
	create Creator
	paths  []string
	size   int64
	i      int // shards opened
	cur    io.WriteCloser
	left   int64
}

func (s *shardWriter) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		if s.cur == nil || s.left == 0 {
			if err := s.close(); err != nil {
				return written, err
			}
			if s.i >= len(s.paths) {
				return written, fmt.Errorf("tfjs: more tensor bytes than planned")
			}
			w, err := s.create(s.paths[s.i])
			if err != nil {
				return written, err
			}
			s.cur, s.left = w, s.size
			s.i++
		}
		k := min(int64(len(p)), s.left)
		n, err := s.cur.Write(p[:k])
		written += n
		s.left -= int64(n)
		if err != nil {
			return written, err
		}
		p = p[k:]
	}
	return written, nil
}

func (s *shardWriter) close() error {
	if s.cur == nil {
		return nil
	}
	err := s.cur.Close()
	s.cur = nil
	return err
}
