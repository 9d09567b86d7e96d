package runtime

import (
	"slices"
	"testing"
)

func TestTfIdfVectorizer(t *testing.T) {
	// Pool: unigrams 1, 2; bigram (1 2). Columns 0, 1, 2.
	base := func(mode string) map[string]*Attr {
		return map[string]*Attr{
			"min_gram_length": intAttr(1), "max_gram_length": intAttr(2), "max_skip_count": intAttr(1),
			"mode": stringAttr(mode), "ngram_counts": intsAttr(0, 2), "ngram_indexes": intsAttr(0, 1, 2),
			"pool_int64s": intsAttr(1, 2, 1, 2), "weights": {Kind: AttrFloats, Floats: []float32{0.5, 2, 10}},
		}
	}
	x := mustValue(t, []int64{1, 3, 2, 1, 2}, 5)
	for _, tc := range []struct {
		mode string
		want []float32
	}{
		// 1 twice, 2 twice, (1 2) adjacent once and with one skip (1 3 2) once.
		{"TF", []float32{2, 2, 2}},
		{"IDF", []float32{0.5, 2, 10}},
		{"TFIDF", []float32{1, 4, 20}},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			out, err := runOp("", "TfIdfVectorizer", 9, base(tc.mode), 1, x)
			if err != nil {
				t.Fatal(err)
			}
			if got := out[0].Float32s(); !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
	t.Run("strings", func(t *testing.T) {
		attrs := base("TF")
		delete(attrs, "pool_int64s")
		attrs["pool_strings"] = &Attr{Kind: AttrStrings, Strings: []string{"a", "b", "a", "b"}}
		out, err := runOp("", "TfIdfVectorizer", 9, attrs, 1, mustStrings(t, []string{"a", "b", "b"}, 1, 3))
		if err != nil {
			t.Fatal(err)
		}
		if got := out[0].Float32s(); !slices.Equal(out[0].Shape, []int64{1, 3}) || !slices.Equal(got, []float32{1, 2, 2}) {
			t.Fatalf("got %v %v", out[0], got)
		}
	})
	bad := func(k string, a *Attr) map[string]*Attr { m := base("TF"); m[k] = a; return m }
	for name, attrs := range map[string]map[string]*Attr{
		"mode":          bad("mode", stringAttr("BM25")),
		"counts split":  bad("ngram_counts", intsAttr(0, 3)),
		"counts past":   bad("ngram_counts", intsAttr(0, 9)),
		"few indexes":   bad("ngram_indexes", intsAttr(0)),
		"negative idx":  bad("ngram_indexes", intsAttr(0, -1, 2)),
		"gram too long": bad("max_gram_length", intAttr(3)),
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := runOp("", "TfIdfVectorizer", 9, attrs, 1, x); err == nil {
				t.Fatal("accepted bad attributes")
			}
		})
	}
}

func TestMaxUnpool(t *testing.T) {
	x := mustValue(t, []float32{5, 6}, 1, 1, 2)
	attrs := func() map[string]*Attr {
		return map[string]*Attr{"kernel_shape": intsAttr(2), "strides": intsAttr(2)}
	}
	out, err := runOp("", "MaxUnpool", 11, attrs(), 1, x, mustValue(t, []int64{1, 2}, 1, 1, 2))
	if err != nil {
		t.Fatal(err)
	}
	if got := out[0].Float32s(); !slices.Equal(got, []float32{0, 5, 6, 0}) {
		t.Fatalf("got %v", got)
	}
	for name, ins := range map[string][]*Value{
		"index out of range": {x, mustValue(t, []int64{1, 4}, 1, 1, 2)},
		"index shape":        {x, mustValue(t, []int64{1}, 1, 1, 1)},
		"output too small":   {x, mustValue(t, []int64{1, 2}, 1, 1, 2), mustValue(t, []int64{1, 1, 3}, 3)},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := runOp("", "MaxUnpool", 11, attrs(), 1, ins...); err == nil {
				t.Fatal("accepted bad input")
			}
		})
	}
}
