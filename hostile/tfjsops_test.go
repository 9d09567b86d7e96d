package hostile

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// TF.js graph models whose operators carry hostile attributes or inputs (multi-output
// counts, masks, crop and block sizes, signatures naming what is not there): `refit
// convert` must refuse them with an error and no output, or convert them, never crash.
func TestTFJSGraphHostileOps(t *testing.T) {
	ints := func(v ...string) map[string]any { return map[string]any{"list": map[string]any{"i": v}} }
	i := func(v string) map[string]any { return map[string]any{"i": v} }
	konst := func(name string, dims []string, vals ...int64) map[string]any {
		var dim []map[string]string
		for _, d := range dims {
			dim = append(dim, map[string]string{"size": d})
		}
		return map[string]any{"name": name, "op": "Const", "attr": map[string]any{"dtype": map[string]any{"type": "DT_INT32"},
			"value": map[string]any{"tensor": map[string]any{"dtype": "DT_INT32", "tensorShape": map[string]any{"dim": dim}, "intVal": vals}}}}
	}
	x := map[string]any{"name": "x", "op": "Placeholder", "attr": map[string]any{"dtype": map[string]any{"type": "DT_FLOAT"},
		"shape": map[string]any{"shape": map[string]any{"dim": []map[string]string{{"size": "1"}, {"size": "4"}, {"size": "4"}, {"size": "3"}}}}}}
	node := func(name, op string, in []string, attr map[string]any) map[string]any {
		return map[string]any{"name": name, "op": op, "input": in, "attr": attr}
	}
	cases := map[string]struct {
		nodes []map[string]any
		sig   string
	}{
		"unpack num negative":       {nodes: []map[string]any{node("y", "Unpack", []string{"x"}, map[string]any{"num": i("-5")})}},
		"unpack num huge":           {nodes: []map[string]any{node("y", "Unpack", []string{"x"}, map[string]any{"num": i("9000000000")})}},
		"split zero parts":          {nodes: []map[string]any{konst("d", nil, 1), node("y", "Split", []string{"d", "x"}, map[string]any{"num_split": i("0")})}},
		"splitv two inferred sizes": {nodes: []map[string]any{konst("d", nil, 1), konst("s", []string{"2"}, -1, -1), node("y", "SplitV", []string{"x", "s", "d"}, nil)}},
		"topk without k":            {nodes: []map[string]any{node("y", "TopKV2", []string{"x"}, nil)}},
		"read output 7 of a 2-way split": {nodes: []map[string]any{konst("d", nil, 1), node("s", "Split", []string{"d", "x"}, map[string]any{"num_split": i("2")}),
			node("y", "Relu", []string{"s:7"}, nil)}},
		"strided slice 100 entries with ellipsis": {nodes: []map[string]any{konst("b", []string{"100"}, 0), node("y", "StridedSlice", []string{"x", "b", "b", "b"},
			map[string]any{"ellipsis_mask": i("1"), "new_axis_mask": i("6")})}},
		"crop size zero": {nodes: []map[string]any{konst("bx", []string{"1", "4"}, 0), konst("bi", []string{"1"}, 0), konst("cs", []string{"2"}, 0),
			node("y", "CropAndResize", []string{"x", "bx", "bi", "cs"}, nil)}},
		"space to batch block zero": {nodes: []map[string]any{konst("bs", []string{"2"}, 0, 0), konst("p", []string{"2", "2"}, 0),
			node("y", "SpaceToBatchND", []string{"x", "bs", "p"}, nil)}},
		"transposed conv without filter":   {nodes: []map[string]any{konst("sz", []string{"4"}, 1, 8, 8, 3), node("y", "Conv2DBackpropInput", []string{"sz"}, map[string]any{"strides": ints("1", "2", "2", "1")})}},
		"signature names a missing tensor": {nodes: []map[string]any{node("y", "Relu", []string{"x"}, nil)}, sig: `{"outputs":{"out":{"name":"nothere:3"}}}`},
		"signature outputs a list":         {nodes: []map[string]any{node("y", "Relu", []string{"x"}, nil)}, sig: `{"outputs":[{"name":"y"}]}`},
	}
	dir := t.TempDir()
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			d := filepath.Join(dir, filepath.Base(t.Name()))
			if err := os.MkdirAll(d, 0o755); err != nil {
				t.Fatal(err)
			}
			mj := map[string]any{"format": "graph-model", "modelTopology": map[string]any{"node": append([]map[string]any{x}, tc.nodes...)},
				"weightsManifest": []any{}}
			if tc.sig != "" {
				mj["signature"] = json.RawMessage(tc.sig)
			}
			b, _ := json.Marshal(mj)
			in := filepath.Join(d, "model.json")
			if err := os.WriteFile(in, b, 0o644); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(d, "out.onnx")
			r := runRefit(t, limits{}, "convert", in, out)
			if r.code == 0 {
				t.Logf("converted\n%v", r)
				return
			}
			if _, err := os.Stat(out); err == nil {
				t.Fatalf("failed conversion left %s\n%v", out, r)
			}
			t.Logf("refused: %s", r.stderr)
		})
	}
}
