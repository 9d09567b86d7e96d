package report

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"strings"
	"testing"
)

// sample is a report with every kind of plot and a hostile name.
func sample(t *testing.T) *Report {
	t.Helper()
	x := []float64{0, 1, 2, 3}
	line, err := Line("error along depth", "caption", Axes{X: "tensor", Y: "max abs", LogY: true},
		Series{Name: "max abs", X: x, Y: []float64{1e-3, 0, math.NaN(), 2e-2}})
	if err != nil {
		t.Fatal(err)
	}
	bars, err := Bars("plan", "", Axes{X: "tensor", Y: "bits per weight"}, []string{"a", "b", "<script>alert(1)</script>"},
		[]float64{4.5, 6.5, 32}, []string{"Q4_K", "Q6_K", "F32"})
	if err != nil {
		t.Fatal(err)
	}
	grouped, err := GroupedBars("outputs", "", Axes{Y: "fraction"}, []string{"logits"},
		Series{Name: "top-1", Y: []float64{0.99}}, Series{Name: "accuracy", Y: []float64{0.9}})
	if err != nil {
		t.Fatal(err)
	}
	hist, err := Histogram("errors", "", Axes{X: "log10 |a-b|", Y: "elements"}, []Bin{{-6, -5, 10}, {-5, -4, 3}})
	if err != nil {
		t.Fatal(err)
	}
	return &Report{
		Kind: "test", Title: "refit test", Command: "refit test </script><b>", Version: "v0",
		Verdict: &Verdict{Pass: true, Text: "fine"},
		Models:  []Model{{Role: "input", Path: "in.gguf", Format: "gguf", Bytes: 3 << 20, Params: 1234567, DTypes: []DTypeShare{{"F16", 3}, {"F32", 1}}}},
		Figures: []Figure{{"max abs error", "1e-3"}},
		Plots:   []Plot{line, bars, grouped, hist},
		Tables: []Table{{Title: "tensors", Columns: []Column{{Name: "name"}, {Name: "error", Numeric: true}},
			Rows: [][]Cell{{Text("<img src=x>"), Num("%.3g", 0.5)}, {Text("b"), Num("%g", math.NaN())}}}},
		JSON: []byte(`{"name": "</script><script>alert(1)</script>", "x": 1}`),
	}
}

func TestWrite(t *testing.T) {
	var buf bytes.Buffer
	if err := Write(&buf, sample(t)); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	if n := strings.Count(page, "<svg"); n != 4 {
		t.Errorf("page has %d <svg> elements, want 4", n)
	}
	if strings.Contains(page, "<?xml") {
		t.Error("page holds an XML prolog inside HTML")
	}
	for _, bad := range []string{"<script>alert", "<img src=x>", "</script><b>"} {
		if strings.Contains(page, bad) {
			t.Errorf("page holds unescaped %q", bad)
		}
	}
	for _, ext := range []string{"http://", "https://", "src=\"", "@import", "url("} {
		// The SVG namespace URIs are identifiers, not loads.
		rest := strings.ReplaceAll(page, `xmlns="http://www.w3.org/2000/svg"`, "")
		rest = strings.ReplaceAll(rest, `xmlns:xlink="http://www.w3.org/1999/xlink"`, "")
		if strings.Contains(rest, ext) {
			t.Errorf("page refers to something outside it: %q", ext)
		}
	}
	// The embedded JSON is the command's, intact.
	i := strings.Index(page, `<script type="application/json" id="refit-data">`)
	if i < 0 {
		t.Fatal("no embedded JSON")
	}
	rest := page[i+len(`<script type="application/json" id="refit-data">`):]
	var v map[string]any
	if err := json.Unmarshal([]byte(rest[:strings.Index(rest, "</script>")]), &v); err != nil {
		t.Fatalf("embedded JSON: %v", err)
	}
	if v["name"] != "</script><script>alert(1)</script>" {
		t.Errorf("embedded JSON name = %q", v["name"])
	}
	var again bytes.Buffer
	if err := Write(&again, sample(t)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), again.Bytes()) {
		t.Error("two renders of the same report differ")
	}
}

func TestWriteRejects(t *testing.T) {
	r := sample(t)
	r.Tables[0].Rows[0] = r.Tables[0].Rows[0][:1]
	if err := Write(&bytes.Buffer{}, r); err == nil {
		t.Error("Write accepted a row shorter than the header")
	}
	r = sample(t)
	r.JSON = []byte("{")
	if err := Write(&bytes.Buffer{}, r); err == nil {
		t.Error("Write accepted invalid JSON")
	}
}

func TestSampleFile(t *testing.T) {
	if p := os.Getenv("REPORT_SAMPLE"); p != "" {
		var buf bytes.Buffer
		if err := Write(&buf, sample(t)); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(p, buf.Bytes(), 0o644)
	}
}

// TestEmptyPlots: plots of nothing (a model without tensors, a run without epochs)
// render as empty axes rather than failing.
func TestEmptyPlots(t *testing.T) {
	for name, mk := range map[string]func() (Plot, error){
		"line":     func() (Plot, error) { return Line("l", "", Axes{LogY: true}) },
		"line nan": func() (Plot, error) { return Line("l", "", Axes{}, Series{X: []float64{0}, Y: []float64{math.NaN()}}) },
		"bars":     func() (Plot, error) { return Bars("b", "", Axes{}, nil, nil, nil) },
		"bars log": func() (Plot, error) {
			return Bars("b", "", Axes{LogY: true}, []string{"a", "b"}, []float64{0.5, 20}, nil)
		},
		"grouped log": func() (Plot, error) {
			return GroupedBars("g", "", Axes{LogY: true}, []string{"a"}, Series{Name: "s", Y: []float64{3}})
		},
		"grouped":   func() (Plot, error) { return GroupedBars("g", "", Axes{}, nil, Series{Name: "s"}) },
		"histogram": func() (Plot, error) { return Histogram("h", "", Axes{}, nil) },
	} {
		p, err := mk()
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !strings.HasPrefix(string(p.SVG), "<svg") {
			t.Errorf("%s: SVG starts %.40q", name, p.SVG)
		}
	}
}
