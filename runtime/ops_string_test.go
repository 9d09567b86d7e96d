package runtime

import (
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/refit-ml/refit/format/onnx/onnxpb"
)

func mustStrings(t *testing.T, data []string, shape ...int64) *Value {
	t.Helper()
	v, err := NewStrings(data, shape...)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestStrings(t *testing.T) {
	words := mustStrings(t, []string{"Monday", "tuesday", "MONDAY"}, 1, 3)
	t.Run("normalize", func(t *testing.T) {
		out, err := runOp("", "StringNormalizer", 10, map[string]*Attr{
			"case_change_action": stringAttr("UPPER"),
			"stopwords":          {Kind: AttrStrings, Strings: []string{"monday"}},
		}, 1, words)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(out[0].Shape, []int64{1, 1}) || !slices.Equal(out[0].Strings(), []string{"TUESDAY"}) {
			t.Fatalf("got %v %q", out[0], out[0].Strings())
		}
	})
	t.Run("cast round trip", func(t *testing.T) {
		x := mustValue(t, []float32{0.5, -2, 1e-7}, 3)
		s, err := runOp("", "Cast", 13, map[string]*Attr{"to": intAttr(onnxString)}, 1, x)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(s[0].Strings(), []string{"0.5", "-2", "1e-07"}) {
			t.Fatalf("got %q", s[0].Strings())
		}
		back, err := runOp("", "Cast", 13, map[string]*Attr{"to": intAttr(1)}, 1, s[0])
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(back[0].Float32s(), x.Float32s()) {
			t.Fatalf("got %v", back[0].Data)
		}
	})
	for _, tc := range []struct {
		name, op string
		attrs    map[string]*Attr
		ins      []*Value
	}{
		{"normalize rank 3", "StringNormalizer", nil, []*Value{mustStrings(t, []string{"a"}, 1, 1, 1)}},
		{"normalize numbers", "StringNormalizer", nil, []*Value{mustValue(t, []float32{1}, 1)}},
		{"normalize bad action", "StringNormalizer", map[string]*Attr{"case_change_action": stringAttr("TITLE")}, []*Value{words}},
		{"cast not a number", "Cast", map[string]*Attr{"to": intAttr(1)}, []*Value{words}},
		{"cast not an integer", "Cast", map[string]*Attr{"to": intAttr(7)}, []*Value{mustStrings(t, []string{"1.5"}, 1)}},
		{"strings into Add", "Add", nil, []*Value{words, words}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := runOp("", tc.op, 13, tc.attrs, 1, tc.ins...); err == nil {
				t.Fatalf("%s accepted bad input", tc.op)
			}
		})
	}
	t.Run("proto count mismatch", func(t *testing.T) {
		tp := &onnxpb.TensorProto{DataType: proto.Int32(onnxString), Dims: []int64{2}, StringData: [][]byte{[]byte("a")}}
		if _, err := ValueFromProto(tp, nil); err == nil {
			t.Fatal("accepted 1 string for shape [2]")
		}
	})
	if _, err := NewStrings([]string{"a"}, 2); err == nil {
		t.Fatal("NewStrings accepted a short slice")
	}
}
