package runtime

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/refit-ml/refit/tensor"
)

func init() {
	Register(Op{Type: "TfIdfVectorizer", Since: 9, Kernel: tfidfKernel})
}

// tfidfKernel counts the n-grams of a pool in each row of X (ints or strings, [C] or
// [N, C]), with up to max_skip_count skipped items between n-gram members.
func tfidfKernel(c *Call) ([]*Value, error) {
	x := c.Input(0)
	if x == nil || x.Rank() < 1 || x.Rank() > 2 {
		return nil, fmt.Errorf("input %v must have shape [C] or [N, C]", x)
	}
	if x.Kind != KindString && (x.Kind != KindTensor || !x.DType.Integer()) {
		return nil, fmt.Errorf("input %v must hold integers or strings", x)
	}
	var a attrs
	minN := a.int(c.Node, "min_gram_length", 0)
	maxN := a.int(c.Node, "max_gram_length", 0)
	maxSkip := a.int(c.Node, "max_skip_count", 0)
	mode := a.str(c.Node, "mode", "")
	counts := a.ints(c.Node, "ngram_counts", nil)
	indexes := a.ints(c.Node, "ngram_indexes", nil)
	poolInts := a.ints(c.Node, "pool_int64s", nil)
	weights := a.floats(c.Node, "weights", nil)
	var poolStrs []string
	if c.Node.Has("pool_strings") {
		s, err := c.Node.Strings("pool_strings", nil)
		a.keep(err)
		poolStrs = s
	}
	if a.err != nil {
		return nil, a.err
	}
	if mode != "TF" && mode != "IDF" && mode != "TFIDF" {
		return nil, fmt.Errorf("mode %q: want TF, IDF or TFIDF", mode)
	}
	if minN < 1 || maxN < minN || maxN > int64(len(counts)) || maxSkip < 0 {
		return nil, fmt.Errorf("gram lengths [%d, %d], skip %d and %d ngram_counts are inconsistent", minN, maxN, maxSkip, len(counts))
	}
	pool := poolStrs
	if pool == nil {
		pool = make([]string, len(poolInts))
		for i, p := range poolInts {
			pool[i] = strconv.FormatInt(p, 10)
		}
	}
	// Map each pool n-gram (tokens joined by NUL) to its output column.
	gramCol := map[string]int{}
	outDim := int64(0)
	for _, ix := range indexes {
		if ix < 0 {
			return nil, fmt.Errorf("negative ngram index %d", ix)
		}
		outDim = max(outDim, ix+1)
	}
	j := 0
	for k, start := range counts {
		end := int64(len(pool))
		if k+1 < len(counts) {
			end = counts[k+1]
		}
		n := int64(k + 1)
		if start < 0 || end < start || end > int64(len(pool)) || (end-start)%n != 0 {
			return nil, fmt.Errorf("ngram_counts %v do not split a pool of %d into %d-grams", counts, len(pool), n)
		}
		for p := start; p < end; p += n {
			if j >= len(indexes) {
				return nil, fmt.Errorf("more pool n-grams than %d ngram_indexes", len(indexes))
			}
			gramCol[strings.Join(pool[p:p+n], "\x00")] = int(indexes[j])
			j++
		}
	}
	if weights != nil && len(weights) != int(outDim) && len(weights) != len(indexes) {
		return nil, fmt.Errorf("%d weights for %d outputs", len(weights), outDim)
	}
	tokens := x.Strings()
	if tokens == nil {
		tokens = make([]string, x.Len())
		for i := range tokens {
			tokens[i] = strconv.FormatInt(elemInt64(x, i), 10)
		}
	}
	rows, width := 1, int(x.Shape[0])
	outShape := []int64{outDim}
	if x.Rank() == 2 {
		rows, width = int(x.Shape[0]), int(x.Shape[1])
		outShape = []int64{int64(rows), outDim}
	}
	out, err := c.Alloc(tensor.F32, outShape)
	if err != nil {
		return nil, err
	}
	y := out.Data.([]float32)
	for r := 0; r < rows; r++ {
		row := tokens[r*width : (r+1)*width]
		cnt := y[r*int(outDim) : (r+1)*int(outDim)]
		for i := range row {
			for n := int(minN); n <= int(maxN); n++ {
				skips := int(maxSkip)
				if n == 1 {
					skips = 0 // a unigram is the same whatever the skip
				}
				for s := 0; s <= skips; s++ {
					step := s + 1
					if i+(n-1)*step >= len(row) {
						break
					}
					parts := make([]string, n)
					for m := range parts {
						parts[m] = row[i+m*step]
					}
					if col, ok := gramCol[strings.Join(parts, "\x00")]; ok {
						cnt[col]++
					}
				}
			}
		}
		for col := range cnt {
			w := float32(1)
			if weights != nil && col < len(weights) {
				w = weights[col]
			}
			switch mode {
			case "IDF":
				if cnt[col] > 0 {
					cnt[col] = w
				}
			case "TFIDF":
				cnt[col] *= w
			}
		}
	}
	return []*Value{out}, nil
}
