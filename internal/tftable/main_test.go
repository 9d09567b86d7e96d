package main

import (
	"strings"
	"testing"
)

func TestRender(t *testing.T) {
	in := strings.Join([]string{
		`{"family":"TFLite","source":"p@1","model":"b","reference":"tflite","converts":true,"ort_runs":true,"ort_err":2e-3,"refit_err":1e-5}`,
		`{"family":"TF.js graph","source":"h@3","model":"a","reference":"tfjs","converts":true,"ort_runs":true,"ort_err":1e-5,"refit_err":1e-5}`,
		`{"family":"TF.js graph","source":"h@3","model":"c","converts":false,"why":"unsupported | x"}`,
		`{"family":"TFLite","source":"p@1","model":"b","reference":"tflite","converts":true,"ort_runs":true,"ort_err":1e-4,"refit_err":2e-4,"torch_err":3e-6}`,
		"",
	}, "\n")
	rows, err := readRows(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 {
		t.Fatalf("%d rows, want 3 (the repeated model keeps its last row)", len(rows))
	}
	out := render(rows)
	lines := strings.Split(out, "\n")
	if !strings.HasPrefix(lines[2], "| 1 | TF.js graph | a |") || !strings.HasPrefix(lines[4], "| 3 | TFLite | b |") {
		t.Fatalf("rows not in family/model order:\n%s", out)
	}
	if !strings.Contains(lines[4], "| 0.0001 | 0.0002 | 3e-06 |") {
		t.Errorf("last row of b not kept: %s", lines[4])
	}
	if !strings.Contains(lines[3], "unsupported / x") {
		t.Errorf("pipe not escaped: %s", lines[3])
	}
	if !strings.Contains(out, "2 of 3 models convert and agree") {
		t.Errorf("summary:\n%s", out)
	}
	if _, err := readRows(strings.NewReader("{")); err == nil {
		t.Error("bad JSON accepted")
	}
}
