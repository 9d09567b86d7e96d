package cli

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/tfjs"
	"github.com/refit-ml/refit/layout"
)

// convertToTFJS writes m's weights as a TF.js layers model in outDir (model.json and
// shards) that tf.loadLayersModel loads. The Keras topology comes from topology (a
// TF.js model.json, a Keras 2 model config .json, or any model file Refit reads whose
// metadata holds a Keras config, such as .h5) or, when empty, from m itself (a Keras,
// TF.js or TF checkpoint model). PyTorch-named weights ("dense.weight") are mapped back
// with layout.FromPyTorch; Keras-named ones are normalized to TF.js names. Files are
// written atomically and model.json last; the output is re-read and compared with
// what was written.
func convertToTFJS(e *env, m *refit.Model, outDir string, topology string, force bool) error {
	topo, err := tfjsTopology(m, topology)
	if err != nil {
		return err
	}
	layers, err := layout.LayersFromConfig(string(topo))
	if err != nil {
		return err
	}
	weights := m
	if kerasConfig(m) != "" { // Keras names: to PyTorch's and back gives TF.js names
		if weights, err = layout.ToPyTorch(m, layers); err != nil {
			return err
		}
	}
	if weights, err = layout.FromPyTorch(weights, layers); err != nil {
		return err
	}
	if v, ok := weights.Metadata.Get("tflayout.unmapped"); ok {
		names, _ := v.([]string)
		return fmt.Errorf("%d tensors belong to no layer of the topology that has weights (%s): %w",
			len(names), abbreviate(names, 5), refit.ErrFormat)
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	if _, err := os.Lstat(filepath.Join(outDir, tfjs.DefaultName)); err == nil && !force {
		return fmt.Errorf("%w: %s", refit.ErrExists, filepath.Join(outDir, tfjs.DefaultName))
	}
	var pending []*pendingWriter
	defer func() {
		for _, p := range pending {
			p.pf.Abort()
		}
	}()
	create := func(name string) (io.WriteCloser, error) {
		pf, err := refit.CreatePendingContext(e.ctx, filepath.Join(outDir, name), true)
		if err != nil {
			return nil, err
		}
		p := &pendingWriter{pf: pf, w: bufio.NewWriterSize(pf, 1<<20)}
		pending = append(pending, p)
		return p, nil
	}
	if err := tfjs.EncodeLayers(create, weights, topo, nil); err != nil {
		return err
	}
	var total int64
	for _, p := range pending { // model.json is created last, so committed last
		if err := p.pf.Commit(); err != nil {
			return err
		}
		total += p.n
	}
	shards := len(pending) - 1
	pending = nil
	if err := verifyTFJS(outDir, weights); err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	fmt.Fprintf(e.stdout, "%s weights -> %s (TF.js layers model): %d weights in %d shards, %s\n",
		m.Format, outDir, len(weights.Tensors), shards, humanBytes(total))
	return nil
}

// pendingWriter buffers one output file; Close flushes but leaves the file open
// until convertToTFJS commits every file.
type pendingWriter struct {
	pf *refit.PendingFile
	w  *bufio.Writer
	n  int64
}

func (p *pendingWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	p.n += int64(n)
	return n, err
}

func (p *pendingWriter) Close() error { return p.w.Flush() }

// kerasConfig returns the Keras config a Keras-family model carries, or "".
func kerasConfig(m *refit.Model) string {
	for _, key := range kerasConfigKeys {
		if cfg := m.Metadata.String(key); cfg != "" {
			return cfg
		}
	}
	return ""
}

// tfjsTopology reads the Keras topology for a TF.js layers model.
func tfjsTopology(m *refit.Model, path string) ([]byte, error) {
	if path == "" {
		cfg := kerasConfig(m)
		if cfg == "" {
			return nil, usageError{fmt.Errorf("a %s model has no Keras topology: pass --topology (a TF.js model.json, a Keras config .json, or the original .h5/.keras)", m.Format)}
		}
		return tfjs.LayersTopology([]byte(cfg))
	}
	if strings.EqualFold(filepath.Ext(path), ".json") {
		f, err := refit.OpenRegular(path)
		if err != nil {
			return nil, err
		}
		b, err := io.ReadAll(io.LimitReader(f, tfjs.MaxModelJSON+1))
		f.Close()
		if err != nil {
			return nil, err
		}
		if len(b) > tfjs.MaxModelJSON {
			return nil, fmt.Errorf("%s: %d bytes, more than the %d allowed: %w", path, len(b), tfjs.MaxModelJSON, refit.ErrFormat)
		}
		topo, err := tfjs.LayersTopology(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return topo, nil
	}
	src, err := refit.Open(path)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	cfg := kerasConfig(src)
	if cfg == "" {
		return nil, usageError{fmt.Errorf("--topology %s: a %s file holds no Keras model config", path, src.Format)}
	}
	topo, err := tfjs.LayersTopology([]byte(cfg))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return topo, nil
}

// verifyTFJS re-reads the written model and checks every weight came back with its
// name, shape and (for float32 weights) bytes.
func verifyTFJS(dir string, want *refit.Model) error {
	got, err := tfjs.DecodeFS(refit.DirFS(dir), ".", nil)
	if err != nil {
		return err
	}
	defer got.Close()
	if len(got.Tensors) != len(want.Tensors) {
		return fmt.Errorf("%d weights read back, wrote %d", len(got.Tensors), len(want.Tensors))
	}
	for i, w := range want.Tensors {
		g := got.Tensors[i]
		if g.Name != w.Name || !g.Shape.Equal(w.Shape) {
			return fmt.Errorf("weight %d read back as %q %v, wrote %q %v", i, g.Name, g.Shape, w.Name, w.Shape)
		}
		if g.DType != w.DType {
			continue // stored converted (float16, int32)
		}
		a, err := w.Bytes()
		if err != nil {
			return err
		}
		b, err := g.Bytes()
		if err != nil {
			return err
		}
		if !bytes.Equal(a, b) {
			return fmt.Errorf("weight %q: bytes read back differ", w.Name)
		}
	}
	return nil
}

func abbreviate(names []string, n int) string {
	if len(names) <= n {
		return strings.Join(names, ", ")
	}
	return strings.Join(names[:n], ", ") + fmt.Sprintf(", ... %d more", len(names)-n)
}
