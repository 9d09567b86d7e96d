package cli

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/tfjs"
)

// readTopology reads --topology: a TF.js model.json, a Keras 2 model config .json, or
// any model file Refit reads whose metadata holds a Keras config, such as .h5. The
// TF.js writer names the weights after it (see tfjs.Prepare).
func readTopology(path string) ([]byte, error) {
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
	cfg := refit.KerasConfig(src)
	if cfg == "" {
		return nil, usageError{fmt.Errorf("--topology %s: a %s file holds no Keras model config", path, src.Format)}
	}
	topo, err := tfjs.LayersTopology([]byte(cfg))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return topo, nil
}
