package hostile

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Keras configs that try to make keras2onnx (refit convert model.json out.onnx) work
// without bound: a large layer called 100000 times (each call would read its
// weights again), models and wrappers nested 100 deep, and a masked RNN over a
// billion steps (its step index tables). Each must fail cleanly, quickly, within
// memory limits, and leave no output.
func TestKerasConversionBounds(t *testing.T) {
	const units = 512 // a 1 MiB Dense kernel
	dir := t.TempDir()
	kernel := make([]byte, 4*units*units)
	dense := func(name string) map[string]any {
		return map[string]any{"class_name": "Dense", "name": name, "config": map[string]any{"name": name, "units": units, "use_bias": false}}
	}
	input := func(shape ...any) map[string]any {
		return map[string]any{"class_name": "InputLayer", "name": "x", "config": map[string]any{"name": "x", "batch_input_shape": shape}, "inbound_nodes": []any{}}
	}
	functional := func(layers []map[string]any, out string) map[string]any {
		return map[string]any{"class_name": "Functional", "config": map[string]any{"name": "m", "layers": layers,
			"input_layers": []any{[]any{"x", 0, 0}}, "output_layers": []any{[]any{out, 0, 0}}}}
	}

	// One Dense called 10^5 times on the input: an inbound node per call.
	calls := make([]any, 100_000)
	for i := range calls {
		calls[i] = []any{[]any{"x", 0, 0, map[string]any{}}}
	}
	d := dense("d")
	d["inbound_nodes"] = calls
	amplified := functional([]map[string]any{input(nil, units), d}, "d")

	// Sequential models nested 100 deep, and TimeDistributed wrappers likewise.
	var nested any = dense("leaf")
	var wrapped any = dense("leaf")
	for i := range 100 {
		nested = map[string]any{"class_name": "Sequential", "name": fmt.Sprint("s", i), "config": map[string]any{"name": fmt.Sprint("s", i), "layers": []any{nested}}}
		wrapped = map[string]any{"class_name": "TimeDistributed", "name": fmt.Sprint("t", i), "config": map[string]any{"name": fmt.Sprint("t", i), "layer": wrapped}}
	}
	seq := func(inner any) map[string]any {
		l := inner.(map[string]any)
		l["config"].(map[string]any)["batch_input_shape"] = []any{nil, 2, units}
		return map[string]any{"class_name": "Sequential", "config": map[string]any{"name": "outer", "layers": []any{l}}}
	}

	// Masking then an LSTM over 10^9 steps.
	masked := map[string]any{"class_name": "Sequential", "config": map[string]any{"name": "m", "layers": []any{
		map[string]any{"class_name": "Masking", "config": map[string]any{"name": "mask", "batch_input_shape": []any{nil, 1_000_000_000, 1}}},
		map[string]any{"class_name": "LSTM", "config": map[string]any{"name": "lstm", "units": 1, "use_bias": false}},
	}}}
	lstm := []map[string]any{
		{"name": "lstm/kernel", "shape": []int{1, 4}, "dtype": "float32"},
		{"name": "lstm/recurrent_kernel", "shape": []int{1, 4}, "dtype": "float32"},
	}

	cases := []struct {
		name     string
		topology map[string]any
		weights  []map[string]any
		data     []byte
	}{
		{"layer called 100000 times", amplified, []map[string]any{{"name": "d/kernel", "shape": []int{units, units}, "dtype": "float32"}}, kernel},
		{"models nested 100 deep", seq(nested), nil, nil},
		{"wrappers nested 100 deep", seq(wrapped), nil, nil},
		{"masked RNN over 1e9 steps", masked, lstm, make([]byte, 32)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sub := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_"))
			if err := os.MkdirAll(sub, 0o755); err != nil {
				t.Fatal(err)
			}
			manifest := []any{}
			if c.weights != nil {
				manifest = []any{map[string]any{"paths": []string{"weights.bin"}, "weights": c.weights}}
				if err := os.WriteFile(filepath.Join(sub, "weights.bin"), c.data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			b, err := json.Marshal(map[string]any{"format": "layers-model", "modelTopology": c.topology, "weightsManifest": manifest})
			if err != nil {
				t.Fatal(err)
			}
			in := filepath.Join(sub, "model.json")
			if err := os.WriteFile(in, b, 0o644); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(sub, "out.onnx")
			r := runRefit(t, limits{memKiB: 2 << 20}, "convert", in, out)
			if r.code == 0 {
				t.Fatalf("refit convert succeeded\n%v", r)
			}
			if _, err := os.Stat(out); err == nil {
				t.Fatalf("refit convert failed but wrote %s", out)
			}
			t.Logf("refused: %s", strings.TrimSpace(r.stderr))
		})
	}
}
