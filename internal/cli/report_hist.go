package cli

import (
	"math"

	"github.com/refit-ml/refit/tensor"
)

// errorHistogram counts an output's elements by |a - b| on a log scale: diff's
// picture of how errors spread, beyond the single max.
type errorHistogram struct {
	Output string    `json:"output"`
	Total  int64     `json:"elements"`
	Exact  int64     `json:"exact"` // |a - b| = 0
	NaN    int64     `json:"nan"`   // either side NaN
	Bins   []histBin `json:"bins"`  // nonzero errors, [lo, hi), lo < hi, ascending
}

type histBin struct {
	Lo    float64 `json:"lo"`
	Hi    float64 `json:"hi"`
	Count int64   `json:"count"`
}

// binsPerDecade sets the histogram's resolution; maxDecades bounds its width (the
// smallest errors fall into the first bin).
const (
	binsPerDecade = 4
	maxDecades    = 12
)

// errorHistograms builds one histogram per output of a that b also has (by name, or
// by position when the names differ, as compare.Outputs matches them) with the same
// number of elements.
func errorHistograms(a, b []*tensor.Tensor) []errorHistogram {
	byName := map[string]*tensor.Tensor{}
	for _, t := range b {
		byName[t.Name] = t
	}
	var out []errorHistogram
	for i, ta := range a {
		tb := byName[ta.Name]
		if tb == nil && len(a) == len(b) {
			tb = b[i]
		}
		if tb == nil || ta.Data == nil || tb.Data == nil || ta.NumElements() != tb.NumElements() {
			continue
		}
		xa, err := ta.Float32s()
		if err != nil {
			continue
		}
		xb, err := tb.Float32s()
		if err != nil {
			continue
		}
		out = append(out, histogramOf(ta.Name, xa, xb))
	}
	return out
}

func histogramOf(name string, a, b []float32) errorHistogram {
	h := errorHistogram{Output: name, Total: int64(len(a))}
	lo, hi := math.Inf(1), 0.0
	for i := range a {
		d := math.Abs(float64(a[i]) - float64(b[i]))
		switch {
		case math.IsNaN(d):
			h.NaN++
		case d == 0:
			h.Exact++
		case !math.IsInf(d, 0):
			lo, hi = math.Min(lo, d), math.Max(hi, d)
		}
	}
	if hi == 0 { // no finite nonzero error
		return h
	}
	top := math.Floor(math.Log10(hi)*binsPerDecade)/binsPerDecade + 1.0/binsPerDecade // hi falls in the last bin
	bottom := math.Max(math.Floor(math.Log10(lo)*binsPerDecade)/binsPerDecade, top-maxDecades)
	n := max(int(math.Round((top-bottom)*binsPerDecade)), 1)
	counts := make([]int64, n)
	for i := range a {
		d := math.Abs(float64(a[i]) - float64(b[i]))
		if math.IsNaN(d) || d == 0 {
			continue
		}
		k := n - 1 // +Inf counts with the largest
		if !math.IsInf(d, 0) {
			k = min(max(int(math.Floor((math.Log10(d)-bottom)*binsPerDecade)), 0), n-1)
		}
		counts[k]++
	}
	for k, c := range counts {
		h.Bins = append(h.Bins, histBin{Lo: math.Pow(10, bottom+float64(k)/binsPerDecade), Hi: math.Pow(10, bottom+float64(k+1)/binsPerDecade), Count: c})
	}
	return h
}
