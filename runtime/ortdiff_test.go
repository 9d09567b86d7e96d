package runtime

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/refit-ml/refit/internal/testtool"
	"github.com/refit-ml/refit/tensor"
)

// Differential tests against ONNX Runtime: one node, built by the onnx Python package,
// run by onnxruntime-node, compared with the runtime's kernel on the same inputs.

type ortCase struct {
	name    string
	op      string
	opset   int64
	attrs   map[string]any // int, float32, string, []int64, []float32, []string
	inputs  []*Value       // nil = omitted
	outputs int
	atol    float64
	// saturating: ONNX Runtime may compute this case with its uint8 x int8 kernels
	// that saturate pairs on x86 CPUs without VNNI; each element must then match
	// Refit's exact result or its SaturatingPairsArith result.
	saturating bool
}

type ortTensorJSON struct {
	Type  string    `json:"type"`
	Shape []int64   `json:"shape"`
	Data  []float64 `json:"data"`
}

func ortTypeName(dt tensor.DType) string {
	switch dt {
	case tensor.F32:
		return "float32"
	case tensor.I64:
		return "int64"
	case tensor.I32:
		return "int32"
	case tensor.U8:
		return "uint8"
	case tensor.I8:
		return "int8"
	case tensor.Bool:
		return "bool"
	case tensor.I16:
		return "int16"
	}
	return ""
}

// requireORT returns node_modules for onnxruntime-node, or skips.
func requireORT(t *testing.T) string {
	t.Helper()
	dir := testtool.NodeModules(t, "onnxruntime-node")
	testtool.RequirePython(t, "onnx", "numpy")
	if _, err := exec.LookPath("node"); err != nil {
		if os.Getenv("REFIT_REQUIRE_TOOLS") == "1" {
			t.Fatal("node is required (REFIT_REQUIRE_TOOLS=1)")
		}
		t.Skip("skipping: node not on PATH")
	}
	return dir
}

func runORTCases(t *testing.T, cases []ortCase) {
	nodeModules := requireORT(t)
	dir := t.TempDir()
	// One Python run writes every model and one node run executes them all: process
	// start-up dominates these tiny cases.
	var specs []any
	for i, tc := range cases {
		var ins []any
		for _, v := range tc.inputs {
			if v == nil {
				ins = append(ins, nil)
				continue
			}
			ins = append(ins, ortTensorJSON{Type: ortTypeName(v.DType), Shape: v.Shape, Data: v.AsFloat64s()})
		}
		attrs := map[string]any{}
		for k, v := range tc.attrs {
			switch x := v.(type) {
			case float32: // keep floats floats through JSON
				attrs[k] = map[string]any{"float": x}
			case []float32:
				attrs[k] = map[string]any{"floats": x}
			default:
				attrs[k] = v
			}
		}
		specs = append(specs, map[string]any{"op": tc.op, "opset": tc.opset, "attrs": attrs, "inputs": ins,
			"outputs": tc.outputs, "model": filepath.Join(dir, fmt.Sprintf("case%d.onnx", i))})
	}
	js, err := json.Marshal(specs)
	if err != nil {
		t.Fatal(err)
	}
	specPath := filepath.Join(dir, "cases.json")
	if err := os.WriteFile(specPath, js, 0o644); err != nil {
		t.Fatal(err)
	}
	testtool.RunPython(t, ortModelScript, specPath)
	cmd := exec.Command("node", "-e", ortFeedScript, specPath)
	cmd.Env = append(os.Environ(), "NODE_PATH="+nodeModules)
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("onnxruntime: %v\n%s", err, ee.Stderr)
		}
		t.Fatal(err)
	}
	var results []struct {
		Error   string          `json:"error"`
		Outputs []ortTensorJSON `json:"outputs"`
	}
	if err := json.Unmarshal(out, &results); err != nil || len(results) != len(cases) {
		t.Fatalf("onnxruntime output (%d results for %d cases): %v: %.300s", len(results), len(cases), err, out)
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if results[i].Error != "" {
				t.Fatalf("onnxruntime: %s", results[i].Error)
			}
			want := results[i].Outputs
			nodeAttrs := map[string]*Attr{}
			for k, v := range tc.attrs {
				switch x := v.(type) {
				case int:
					nodeAttrs[k] = intAttr(int64(x))
				case float32:
					nodeAttrs[k] = floatAttr(x)
				case string:
					nodeAttrs[k] = stringAttr(x)
				case []int64:
					nodeAttrs[k] = intsAttr(x...)
				case []float32:
					nodeAttrs[k] = floatsAttr(x...)
				case []string:
					nodeAttrs[k] = &Attr{Kind: AttrStrings, Strings: x}
				default:
					t.Fatalf("attribute %s: unsupported %T", k, v)
				}
			}
			got, err := runOp("", tc.op, tc.opset, nodeAttrs, tc.outputs, tc.inputs...)
			if err != nil {
				t.Fatal(err)
			}
			var alt []*Value
			if tc.saturating {
				if alt, err = runOpArith(SaturatingPairsArith, "", tc.op, tc.opset, nodeAttrs, tc.outputs, tc.inputs...); err != nil {
					t.Fatal(err)
				}
			}
			atol := tc.atol
			if atol == 0 {
				atol = 1e-5
			}
			for k := range want {
				g := got[k]
				if g == nil {
					t.Fatalf("output %d missing", k)
				}
				if fmt.Sprint(g.Shape) != fmt.Sprint(want[k].Shape) {
					t.Fatalf("output %d shape %v, onnxruntime %v", k, g.Shape, want[k].Shape)
				}
				gf := g.AsFloat64s()
				var af []float64
				if alt != nil {
					af = alt[k].AsFloat64s()
				}
				exactAll, altAll := true, af != nil
				for j, w := range want[k].Data {
					tol := atol + 1e-4*math.Abs(w)
					exact := math.Abs(gf[j]-w) <= tol
					sat := af != nil && math.Abs(af[j]-w) <= tol
					exactAll, altAll = exactAll && exact, altAll && sat
					if !exact && !sat {
						if af != nil {
							t.Fatalf("output %d element %d = %v (saturating pairs %v), onnxruntime %v", k, j, gf[j], af[j], w)
						}
						t.Fatalf("output %d element %d = %v, onnxruntime %v", k, j, gf[j], w)
					}
				}
				if af != nil {
					t.Logf("output %d: onnxruntime matches exact arithmetic: %v, saturating pairs: %v", k, exactAll, altAll)
					if !exactAll && testtool.ExactInt8ORT() {
						t.Errorf("output %d: onnxruntime differs from the exact result on a CPU where its int8 kernels are exact", k)
					}
				}
			}
		})
	}
}

const ortModelScript = `
import json, sys
import numpy as np
import onnx
from onnx import helper, TensorProto
types = {"float32": TensorProto.FLOAT, "int64": TensorProto.INT64, "int32": TensorProto.INT32,
         "uint8": TensorProto.UINT8, "int8": TensorProto.INT8, "bool": TensorProto.BOOL,
         "int16": TensorProto.INT16}
for spec in json.load(open(sys.argv[1])):
  names, infos = [], []
  for i, t in enumerate(spec["inputs"]):
      if t is None:
          names.append("")
          continue
      names.append("in%d" % i)
      infos.append(helper.make_tensor_value_info("in%d" % i, types[t["type"]], t["shape"]))
  outs = ["out%d" % i for i in range(spec["outputs"])]
  attrs = {}
  for k, v in spec["attrs"].items():
      if isinstance(v, dict) and "float" in v:
          v = float(v["float"])
      elif isinstance(v, dict) and "floats" in v:
          v = [float(f) for f in v["floats"]]
      attrs[k] = v
  node = helper.make_node(spec["op"], names, outs, **attrs)
  graph = helper.make_graph([node], "g", infos, [onnx.ValueInfoProto(name=o) for o in outs])
  model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", spec["opset"])])
  model.ir_version = 8
  onnx.save(model, spec["model"])
`

const ortFeedScript = `
const ort = require('onnxruntime-node');
const fs = require('fs');
const arrays = {float32: Float32Array, int32: Int32Array, uint8: Uint8Array, int8: Int8Array, int16: Int16Array};
async function runOne(spec) {
  const sess = await ort.InferenceSession.create(spec.model);
  const feeds = {};
  spec.inputs.forEach((t, i) => {
    if (t === null) return;
    let data;
    if (t.type === 'int64') data = BigInt64Array.from(t.data.map(x => BigInt(x)));
    else if (t.type === 'bool') data = Uint8Array.from(t.data);
    else data = arrays[t.type].from(t.data);
    feeds['in' + i] = new ort.Tensor(t.type, data, t.shape);
  });
  const out = await sess.run(feeds);
  return {outputs: sess.outputNames.map(n => ({type: out[n].type, shape: out[n].dims, data: Array.from(out[n].data, Number)}))};
}
(async () => {
  const specs = JSON.parse(fs.readFileSync(process.argv[1], 'utf8'));
  const res = [];
  for (const spec of specs) {
    try { res.push(await runOne(spec)); } catch (e) { res.push({error: String(e)}); }
  }
  process.stdout.write(JSON.stringify(res));
})().catch(e => { console.error(String(e)); process.exit(1); });
`
