package cli

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// writeF32Safetensors writes one F32 tensor "w" holding vals.
func writeF32Safetensors(t *testing.T, path string, vals ...float32) {
	t.Helper()
	hdr := fmt.Sprintf(`{"w":{"dtype":"F32","shape":[%d],"data_offsets":[0,%d]}}`, len(vals), 4*len(vals))
	for len(hdr)%8 != 0 {
		hdr += " "
	}
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, uint64(len(hdr)))
	b.WriteString(hdr)
	binary.Write(&b, binary.LittleEndian, vals)
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestConvertJSONInfiniteError: a cast to f16 of weights beyond its range makes the
// max error +Inf; --json still succeeds and says "+Inf".
func TestConvertJSONInfiniteError(t *testing.T) {
	dir := t.TempDir()
	in, out := filepath.Join(dir, "big.safetensors"), filepath.Join(dir, "out.safetensors")
	writeF32Safetensors(t, in, 1e6, 0.5, -1e6, 2)
	var stdout, stderr bytes.Buffer
	if code := Main(context.Background(), []string{"convert", in, out, "--dtype", "f16", "--json", "--verbose"}, nil, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d, stderr %s", code, stderr.String())
	}
	var res struct {
		Verified bool      `json:"verified"`
		MaxAbs   jsonFloat `json:"max_abs_error"`
		Diffs    []struct {
			MaxAbs jsonFloat `json:"max_abs_error"`
			MaxRel jsonFloat `json:"max_rel_error"`
		} `json:"verification"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, stdout.String())
	}
	if !res.Verified || !math.IsInf(float64(res.MaxAbs), 1) {
		t.Errorf("verified %v, max_abs_error %v, want true and +Inf", res.Verified, res.MaxAbs)
	}
	if len(res.Diffs) != 1 || !math.IsInf(float64(res.Diffs[0].MaxAbs), 1) {
		t.Errorf("verification %+v, want one tensor with max_abs_error +Inf", res.Diffs)
	}
	if !strings.Contains(stdout.String(), `"max_abs_error": "+Inf"`) {
		t.Errorf("output lacks \"max_abs_error\": \"+Inf\":\n%s", stdout.String())
	}
}

// TestDiffJSONInfinity: diff --json of tensors with an infinity prints valid JSON.
func TestDiffJSONInfinity(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.safetensors"), filepath.Join(dir, "b.safetensors")
	writeF32Safetensors(t, a, 1, 2, 3)
	writeF32Safetensors(t, b, float32(math.Inf(1)), 2, 3)
	var stdout, stderr bytes.Buffer
	code := Main(context.Background(), []string{"diff", a, b, "--json"}, nil, &stdout, &stderr)
	var res struct {
		MaxAbs  jsonFloat `json:"max_abs_error"`
		Tensors []struct {
			MaxAbs jsonFloat `json:"max_abs_error"`
		} `json:"tensors"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("exit %d: output is not JSON: %v\n%s\nstderr %s", code, err, stdout.String(), stderr.String())
	}
	if strings.Contains(stderr.String(), "json") {
		t.Errorf("stderr mentions JSON: %s", stderr.String())
	}
	if len(res.Tensors) != 1 || !math.IsInf(float64(res.Tensors[0].MaxAbs), 1) {
		t.Errorf("tensors %+v, want one with max_abs_error +Inf\n%s", res.Tensors, stdout.String())
	}
}

type lenientInner struct {
	X float32 `json:"x"`
}

type lenientSample struct {
	lenientInner
	Name   string             `json:"name"`
	F      float64            `json:"f"`
	Skip   float64            `json:"-"`
	Empty  float64            `json:"empty,omitempty"`
	Ptr    *float64           `json:"ptr,omitempty"`
	List   []float64          `json:"list"`
	Nil    []int              `json:"nil"`
	Map    map[string]float64 `json:"map"`
	IntMap map[int]string     `json:"int_map"`
	Any    any                `json:"any"`
	Bytes  []byte             `json:"bytes"`
	Q      int                `json:"q,string"`
	JF     jsonFloat          `json:"jf"`
	Plain  bool
	hidden int
}

// TestWriteJSONLenient: the fallback encoder writes what encoding/json writes for
// finite values, and the non-finite ones as strings that jsonFloat reads back.
func TestWriteJSONLenient(t *testing.T) {
	two := 2.0
	s := lenientSample{lenientInner: lenientInner{X: 0.1}, Name: "<a&b>", F: 1.5e-7, Skip: 3, Ptr: &two,
		List: []float64{1, 2.5}, Map: map[string]float64{"b": 1, "a": 2}, IntMap: map[int]string{10: "x", 2: "y"},
		Any: map[string]any{"k": []any{1.0, "s"}}, Bytes: []byte("hi"), Q: 7, JF: 4, Plain: true, hidden: 1}
	var want, got bytes.Buffer
	if err := writeJSON(&want, &s); err != nil {
		t.Fatal(err)
	}
	if err := encodeLenient(&got, reflect.ValueOf(&s)); err != nil {
		t.Fatal(err)
	}
	var ind bytes.Buffer
	if err := json.Indent(&ind, got.Bytes(), "", "  "); err != nil {
		t.Fatalf("fallback output is not JSON: %v\n%s", err, got.String())
	}
	if ind.String()+"\n" != want.String() {
		t.Errorf("fallback encoder differs from encoding/json:\n%s\nwant\n%s", ind.String(), want.String())
	}

	for _, v := range []float64{math.Inf(1), math.Inf(-1), math.NaN()} {
		s.F, s.List[1], s.Map["a"], s.X = v, v, v, float32(v)
		var out bytes.Buffer
		if err := writeJSON(&out, &s); err != nil {
			t.Fatalf("writeJSON with %v: %v", v, err)
		}
		var back struct {
			F    jsonFloat            `json:"f"`
			X    jsonFloat            `json:"x"`
			List []jsonFloat          `json:"list"`
			Map  map[string]jsonFloat `json:"map"`
		}
		if err := json.Unmarshal(out.Bytes(), &back); err != nil {
			t.Fatalf("%v: %v\n%s", v, err, out.String())
		}
		for _, g := range []jsonFloat{back.F, back.X, back.List[1], back.Map["a"]} {
			if g := float64(g); g != v && !(math.IsNaN(g) && math.IsNaN(v)) {
				t.Errorf("%v came back as %v\n%s", v, g, out.String())
			}
		}
		if back.List[0] != 1 || back.Map["b"] != 1 {
			t.Errorf("finite values changed: %s", out.String())
		}
	}
}
