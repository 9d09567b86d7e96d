package runtime

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/refit-ml/refit/tensor"
)

// BenchmarkConvResNet18 runs each distinct convolution of ResNet-18 (batch 1, with bias
// and the following Relu fused, as the exported model has them) at one and two
// threads, and reports GFLOP per CPU-second (useful multiply-adds x 2), which stays
// meaningful on a shared machine. On the 2-core AMD EPYC (Zen 4) dev VM at one
// thread, loaded (load average ~20-25, best of 2 interleaved runs; noise about 10%),
// before (packed B, compaction pass) / after (in-place tiles storing the output, the
// transposed tiles at 7 x 7): stem 7x7s2 62 / 69, 3x3 64@56 75 / 90, 3x3s2 128@28
// 76 / 79, 3x3 128@28 84 / 93, 3x3 256@14 86 / 88, 3x3 512@7 73 / 82, 1x1s2 256@14
// 66 / 68.
func BenchmarkConvResNet18(b *testing.B) {
	for _, threads := range []int{1, 2} {
		for _, s := range []struct {
			name                 string
			c, m, hw, k, strd, p int
		}{
			{"stem_7x7s2_64", 3, 64, 224, 7, 2, 3},
			{"3x3_64@56", 64, 64, 56, 3, 1, 1},
			{"3x3s2_128@28", 64, 128, 56, 3, 2, 1},
			{"3x3_128@28", 128, 128, 28, 3, 1, 1},
			{"3x3_256@14", 256, 256, 14, 3, 1, 1},
			{"3x3_512@7", 512, 512, 7, 3, 1, 1},
			{"1x1s2_256@14", 128, 256, 28, 1, 2, 0},
		} {
			b.Run(fmt.Sprintf("threads=%d/%s", threads, s.name), func(b *testing.B) {
				r := rand.New(rand.NewPCG(5, 6))
				w, _ := FromSlice(randSlice(r, s.m*s.c*s.k*s.k), int64(s.m), int64(s.c), int64(s.k), int64(s.k))
				bias, _ := FromSlice(randSlice(r, s.m), int64(s.m))
				p := int64(s.p)
				g := &Graph{
					Inputs:       []ValueInfo{input("x", tensor.F32, 1, int64(s.c), int64(s.hw), int64(s.hw))},
					Outputs:      []ValueInfo{{Name: "y"}},
					Initializers: map[string]*Value{"w": w, "b": bias},
					Nodes: []*Node{
						node("Conv", []string{"x", "w", "b"}, []string{"z"},
							&Attr{Name: "pads", Kind: AttrInts, Ints: []int64{p, p, p, p}},
							&Attr{Name: "strides", Kind: AttrInts, Ints: []int64{int64(s.strd), int64(s.strd)}}),
						node("Relu", []string{"z"}, []string{"y"}),
					},
				}
				sess, err := NewSession(g, map[string]int64{"": 17}, &Options{Threads: threads})
				if err != nil {
					b.Fatal(err)
				}
				in, err := RandomInputs(sess, 1, nil)
				if err != nil {
					b.Fatal(err)
				}
				out := (s.hw+2*s.p-s.k)/s.strd + 1
				flops := 2 * float64(s.m*out*out*s.c*s.k*s.k)
				ctx := context.Background()
				cpu0 := processCPUTime()
				for b.Loop() {
					if _, err := sess.Run(ctx, in); err != nil {
						b.Fatal(err)
					}
				}
				if cpu := processCPUTime() - cpu0; cpu > 0 {
					b.ReportMetric(flops*float64(b.N)/cpu.Seconds()/1e9, "GFLOP/cpu-s")
				}
			})
		}
	}
}
