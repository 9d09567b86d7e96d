package tf2onnx

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/tfgraph"
	"github.com/refit-ml/refit/runtime"
)

// TestTFGraph converts the frozen GraphDefs and the SavedModel of testdata (written
// by testdata/gen/tfgraph.py from the TF.js fixtures) and compares Refit's runtime
// with the outputs TF.js computed for the same graphs.
func TestTFGraph(t *testing.T) {
	cases := []struct{ name, ref string }{
		{"graphdef/graph.pb", "graph"}, {"graphdef/while.pb", "while"}, {"graphdef/nested.pb", "nested"}, {"graphdef/maparray.pb", "maparray"}, {"graphdef/functional.pb", "functional"}, {"graphdef/maplist.pb", "maplist"}, {"savedmodel", "graph"}, {"savedmodel_tf2", "graph"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join("testdata", tc.name)
			var m *refit.Model
			var err error
			if filepath.Ext(path) == ".pb" {
				b, rerr := os.ReadFile(path)
				if rerr != nil {
					t.Fatal(rerr)
				}
				m, err = tfgraph.Decode(bytesReader(b), int64(len(b)), nil)
			} else {
				m, err = tfgraph.DecodeFS(os.DirFS(path), ".", nil)
			}
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			defer m.Close()
			mp, err := TFGraph(context.Background(), m, nil)
			if err != nil {
				t.Fatalf("TFGraph: %v", err)
			}
			wellFormed(t, mp)
			x := readNPYValue(t, filepath.Join("testdata", tc.ref, "x.npy"))
			want := readNPYValue(t, filepath.Join("testdata", tc.ref, "y.npy"))
			outs := runRefit(t, mp, map[string]*runtime.Value{mp.Graph.Input[0].GetName(): x})
			if len(outs) != 1 {
				t.Fatalf("%d outputs, want 1", len(outs))
			}
			if d := maxAbsDiff(outs[0].Float32s(), want.Float32s()); d > 1e-5 {
				t.Fatalf("max abs diff vs TF.js %g", d)
			} else {
				t.Logf("%v: max abs diff vs TF.js %.2g", countOps(mp), d)
			}
		})
	}
}

// TestTFGraphMissingVariable removes the checkpoint: the variables have no values.
func TestTFGraphMissingVariable(t *testing.T) {
	b, err := os.ReadFile("testdata/savedmodel/saved_model.pb")
	if err != nil {
		t.Fatal(err)
	}
	m, err := tfgraph.DecodeSavedModel(bytesReader(b), int64(len(b)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := TFGraph(context.Background(), m, nil); !errors.Is(err, refit.ErrFormat) {
		t.Fatalf("TFGraph without variables = %v, want ErrFormat", err)
	}
}
