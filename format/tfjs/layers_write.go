package tfjs

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/refit-ml/refit"
)

// LayersFormat is the "format" of a TF.js layers model.json.
const LayersFormat = "layers-model"

// GraphFormat is model.json's "format" for a TF.js graph model (metadata "tfjs.format").
const GraphFormat = "graph-model"

// LayersTopology returns the Keras model topology held in b, for EncodeLayers: b is a
// TF.js model.json (its "modelTopology" is taken), a TF.js modelTopology
// ({"keras_version", "backend", "model_config"}), or a bare Keras 2 model config
// ({"class_name": "Sequential"|"Model"|"Functional", "config": ...}) such as an .h5
// file's model_config. Keras 3 configs (layers with "module" and inbound nodes as
// call arguments) are refused with refit.ErrUnsupported: TF.js 4 cannot read them.
func LayersTopology(b []byte) (json.RawMessage, error) {
	var probe struct {
		ModelTopology   json.RawMessage `json:"modelTopology"`
		WeightsManifest json.RawMessage `json:"weightsManifest"`
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		return nil, refit.Errorf("tfjs", -1, "topology is not a JSON object: %v", err)
	}
	if probe.WeightsManifest != nil || probe.ModelTopology != nil {
		if len(probe.ModelTopology) == 0 || string(probe.ModelTopology) == "null" {
			return nil, refit.Errorf("tfjs", -1, "model.json has no modelTopology (a weights-only or graph model has no Keras topology)")
		}
		b = probe.ModelTopology
	}
	if _, err := topologyLayers(b); err != nil {
		return nil, err
	}
	return json.RawMessage(bytes.Clone(b)), nil
}

// topologyLayers returns the names of the top-level layers of a topology, checking it
// is a Keras 2 style model config TF.js can load.
func topologyLayers(topology []byte) ([]string, error) {
	var wrapper struct {
		ModelConfig json.RawMessage `json:"model_config"`
	}
	if err := json.Unmarshal(topology, &wrapper); err != nil {
		return nil, refit.Errorf("tfjs", -1, "modelTopology: %v", err)
	}
	if len(wrapper.ModelConfig) > 0 && string(wrapper.ModelConfig) != "null" {
		topology = wrapper.ModelConfig
	}
	var model struct {
		ClassName string          `json:"class_name"`
		Config    json.RawMessage `json:"config"`
	}
	if err := json.Unmarshal(topology, &model); err != nil {
		return nil, refit.Errorf("tfjs", -1, "model config: %v", err)
	}
	switch model.ClassName {
	case "Sequential", "Model", "Functional":
	case "":
		return nil, refit.Errorf("tfjs", -1, "model config has no class_name: not a Keras model topology")
	default:
		return nil, refit.Unsupportedf("tfjs", "model class %q (TF.js layers models are Sequential or Model)", model.ClassName)
	}
	type layer struct {
		ClassName    string            `json:"class_name"`
		Name         string            `json:"name"`
		Module       *string           `json:"module"`
		Config       map[string]any    `json:"config"`
		InboundNodes []json.RawMessage `json:"inbound_nodes"`
	}
	var layers []layer
	var withLayers struct {
		Layers []layer `json:"layers"`
	}
	// Keras < 2.2 stored a Sequential config as the bare list of layers.
	if err := json.Unmarshal(model.Config, &layers); err != nil {
		if err := json.Unmarshal(model.Config, &withLayers); err != nil {
			return nil, refit.Errorf("tfjs", -1, "model config layers: %v", err)
		}
		layers = withLayers.Layers
	}
	names := make([]string, 0, len(layers))
	for i, l := range layers {
		name := l.Name
		if n, ok := l.Config["name"].(string); ok && n != "" {
			name = n
		}
		if name == "" {
			return nil, refit.Errorf("tfjs", -1, "layer %d (%s) has no name", i, l.ClassName)
		}
		for _, n := range l.InboundNodes {
			if bytes.HasPrefix(bytes.TrimSpace(n), []byte("{")) {
				return nil, refit.Unsupportedf("tfjs", "layer %q: Keras 3 config (inbound nodes as call arguments); TF.js reads Keras 2 configs", name)
			}
		}
		names = append(names, name)
	}
	return names, nil
}

// EncodeLayers writes a TF.js layers model that tf.loadLayersModel loads: model.json
// with format "layers-model", the given Keras topology (see LayersTopology) and one
// weight group listing m's tensors in m's order, plus its shard files, through the
// same writer as EncodeFiles (same dtypes and shard naming). Every tensor must be
// named "<layer>/<weight>" for a top-level layer of the topology, as TF.js names
// weights (layout.FromPyTorch produces such names); other names are an error,
// since TF.js refuses weights it cannot place.
func EncodeLayers(create Creator, m *refit.Model, topology []byte, opts *EncodeOptions) error {
	topo, err := LayersTopology(topology)
	if err != nil {
		return err
	}
	d, err := layersModel(m, topo)
	if err != nil {
		return err
	}
	return EncodeFiles(create, d, opts)
}

// layersModel checks that every tensor of m is a weight of a layer of the topology
// topo and returns m with the topology as TF.js metadata.
func layersModel(m *refit.Model, topo []byte) (*refit.Model, error) {
	names, err := topologyLayers(topo)
	if err != nil {
		return nil, err
	}
	for _, t := range m.Tensors {
		i := strings.LastIndex(t.Name, "/")
		if i <= 0 || (!slices.Contains(names, t.Name[:i]) && !slices.Contains(names, t.Name[:strings.Index(t.Name, "/")])) {
			return nil, fmt.Errorf("tfjs: tensor %q is not a weight of a layer of the topology (want \"<layer>/<weight>\"): %w",
				t.Name, refit.ErrFormat)
		}
	}
	d := m.Derive(m.Tensors)
	d.Format = "tfjs"
	d.Metadata = refit.Metadata{}
	d.Metadata.Set("tfjs.format", LayersFormat)
	d.Metadata.Set("tfjs.generated_by", generatedBy(topo))
	d.Metadata.Set("tfjs.model_topology", string(topo))
	return d, nil
}

// generatedBy names the Keras version of a topology, as the TF.js converter does.
func generatedBy(topology []byte) string {
	var v struct {
		KerasVersion string `json:"keras_version"`
	}
	if json.Unmarshal(topology, &v) != nil || v.KerasVersion == "" {
		return ""
	}
	if strings.HasPrefix(v.KerasVersion, "tfjs-layers") {
		return v.KerasVersion
	}
	return "keras v" + v.KerasVersion
}
