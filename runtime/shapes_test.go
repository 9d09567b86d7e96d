package runtime

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/tensor"
)

func loadFixture(t *testing.T, path string) *Session {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	mp := &onnxpb.ModelProto{}
	if err := proto.Unmarshal(b, mp); err != nil {
		t.Fatal(err)
	}
	s, err := Load(mp, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestInputShapesWindows: the recognizer (x [N, 3, 48, W], two Convs k3 s2 p1, an
// AveragePool 12x2) needs W >= 5; the default finds that, and the run succeeds there
// while W=4 fails inside AveragePool. Through a Reshape the need is not traced.
func TestInputShapesWindows(t *testing.T) {
	dir := filepath.Join("..", "testdata", "models", "shape")
	s := loadFixture(t, filepath.Join(dir, "recognizer.onnx"))
	shapes, err := InputShapes(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(shapes) != 1 || !slices.Equal(shapes[0].Shape, []int64{1, 3, 48, 5}) ||
		!slices.Equal(shapes[0].Open, []int{0, 3}) || !slices.Equal(shapes[0].Params, []string{"N", "W"}) {
		t.Fatalf("InputShapes = %+v, want x [1 3 48 5] with N and W open", shapes)
	}
	for _, tc := range []struct {
		w  int64
		ok bool
	}{{5, true}, {4, false}} {
		in, err := RandomInputs(s, 1, &RandomOptions{Shapes: map[string][]int64{"x": {1, 3, 48, tc.w}}})
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.Run(context.Background(), in)
		var ne *NodeError
		if tc.ok && err != nil || !tc.ok && !errors.As(err, &ne) {
			t.Errorf("Run at W=%d = %v, want ok=%v", tc.w, err, tc.ok)
		}
	}
	r := loadFixture(t, filepath.Join(dir, "recognizer_reshape.onnx"))
	if shapes, err = InputShapes(r, &RandomOptions{DefaultDim: 2}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(shapes[0].Shape, []int64{2, 3, 48, 2}) {
		t.Errorf("InputShapes(reshape, DefaultDim 2) = %v, want [2 3 48 2] (the Reshape hides the windows)", shapes[0].Shape)
	}
}

// TestInputShapesExplicit: explicit shapes win, a symbolic name they fix carries to
// other inputs, and a shape that contradicts the declaration is ErrInputShape.
func TestInputShapesExplicit(t *testing.T) {
	g := &Graph{
		Inputs: []ValueInfo{
			{Name: "a", DType: tensor.F32, HasShape: true, Dims: []Dim{{Size: -1, Param: "B"}, {Size: -1, Param: "T"}, {Size: 4}}},
			{Name: "b", DType: tensor.F32, HasShape: true, Dims: []Dim{{Size: -1, Param: "B"}, {Size: -1, Param: "T"}, {Size: 4}}},
		},
		Outputs: []ValueInfo{{Name: "y"}},
		Nodes:   []*Node{node("Add", []string{"a", "b"}, []string{"y"})},
	}
	s, err := NewSession(g, map[string]int64{"": 17}, nil)
	if err != nil {
		t.Fatal(err)
	}
	shapes, err := InputShapes(s, &RandomOptions{Shapes: map[string][]int64{"a": {2, 7, 4}}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(shapes[0].Shape, []int64{2, 7, 4}) || shapes[0].Guessed() ||
		!slices.Equal(shapes[1].Shape, []int64{2, 7, 4}) || shapes[1].Guessed() {
		t.Errorf("InputShapes = %+v, want both [2 7 4], none guessed", shapes)
	}
	in, err := RandomInputs(s, 1, &RandomOptions{Shapes: map[string][]int64{"a": {2, 7, 4}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Run(context.Background(), in); err != nil {
		t.Errorf("Run = %v", err)
	}
	for _, bad := range []map[string][]int64{
		{"a": {2, 7, 5}},  // fixed dimension
		{"a": {2, 7}},     // rank
		{"a": {0, 7, 4}},  // size below 1
		{"c": {1, 1, 4}},  // no such input
		{"b": {-1, 1, 4}}, // negative
	} {
		if _, err := InputShapes(s, &RandomOptions{Shapes: bad}); !errors.Is(err, ErrInputShape) {
			t.Errorf("InputShapes(%v) = %v, want ErrInputShape", bad, err)
		}
	}
}
