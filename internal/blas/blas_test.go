package blas

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

func naiveGemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float64
			for p := 0; p < k; p++ {
				var av, bv float32
				if transA {
					av = a[p*lda+i]
				} else {
					av = a[i*lda+p]
				}
				if transB {
					bv = b[j*ldb+p]
				} else {
					bv = b[p*ldb+j]
				}
				s += float64(av) * float64(bv)
			}
			if beta == 0 {
				c[i*ldc+j] = alpha * float32(s)
			} else {
				c[i*ldc+j] = alpha*float32(s) + beta*c[i*ldc+j]
			}
		}
	}
}

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = r.Float32()*2 - 1
	}
	return s
}

type gemmCase struct {
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	pad            int // extra stride on A, B and C
	nanC           bool
	threads        int // goroutines per call; 0 means GOMAXPROCS
}

func (tc gemmCase) String() string {
	return fmt.Sprintf("%dx%dx%d/tA=%v/tB=%v/alpha=%v/beta=%v/pad=%d/nan=%v",
		tc.m, tc.n, tc.k, tc.transA, tc.transB, tc.alpha, tc.beta, tc.pad, tc.nanC)
}

// check runs tc through Sgemm (and SgemmPackedB) and compares every element of C,
// including the padding between rows, which must be untouched.
func check(t *testing.T, r *rand.Rand, tc gemmCase) {
	t.Helper()
	rowsA, colsA := tc.m, tc.k
	if tc.transA {
		rowsA, colsA = tc.k, tc.m
	}
	rowsB, colsB := tc.k, tc.n
	if tc.transB {
		rowsB, colsB = tc.n, tc.k
	}
	lda, ldb, ldc := colsA+tc.pad, colsB+tc.pad, tc.n+tc.pad
	lda, ldb, ldc = max(lda, 1), max(ldb, 1), max(ldc, 1)
	a := randSlice(r, rowsA*lda)
	b := randSlice(r, rowsB*ldb)
	c0 := randSlice(r, tc.m*ldc)
	if tc.nanC {
		for i := range c0 {
			if i%ldc < tc.n {
				c0[i] = float32(math.NaN())
			}
		}
	}
	want := append([]float32(nil), c0...)
	naiveGemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, tc.beta, want, ldc)
	tol := 1e-5 * float64(tc.k+1)
	compare := func(name string, got []float32) {
		t.Helper()
		for i := range got {
			g, w := float64(got[i]), float64(want[i])
			if math.IsNaN(w) != math.IsNaN(g) || math.Abs(g-w) > tol*(1+math.Abs(w)) {
				t.Fatalf("%s(%v): C[%d][%d] = %v, want %v", name, tc, i/ldc, i%ldc, got[i], want[i])
			}
		}
	}
	c := append([]float32(nil), c0...)
	Sgemm(tc.threads, tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, tc.beta, c, ldc)
	compare("Sgemm", c)
	p := PackB(tc.transB, tc.k, tc.n, b, ldb)
	if k, n := p.Dims(); k != tc.k || n != tc.n {
		t.Fatalf("PackB dims = %d x %d, want %d x %d", k, n, tc.k, tc.n)
	}
	c = append(c[:0], c0...)
	SgemmPackedB(tc.threads, tc.transA, tc.m, tc.alpha, a, lda, p, tc.beta, c, ldc)
	compare("SgemmPackedB", c)
	pa := PackA(tc.transA, tc.m, tc.k, a, lda)
	if m, k := pa.Dims(); m != tc.m || k != tc.k {
		t.Fatalf("PackA dims = %d x %d, want %d x %d", m, k, tc.m, tc.k)
	}
	c = append(c[:0], c0...)
	SgemmPackedA(tc.threads, pa, tc.transB, tc.n, tc.alpha, b, ldb, tc.beta, c, ldc)
	compare("SgemmPackedA", c)
}

func TestSgemmSmallShapes(t *testing.T) { eachKernel(t, testSgemmSmallShapes) }

func testSgemmSmallShapes(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	sizes := []int{1, 2, 3, 5, 6, 7, 11, 15, 16, 17, 31, 33, 47, 64, 70}
	for _, ta := range []bool{false, true} {
		for _, tb := range []bool{false, true} {
			t.Run(fmt.Sprintf("tA=%v/tB=%v", ta, tb), func(t *testing.T) {
				for _, m := range sizes {
					for _, n := range sizes {
						for _, k := range []int{1, 4, 7, 33} {
							check(t, r, gemmCase{transA: ta, transB: tb, m: m, n: n, k: k, alpha: 1, beta: 0})
						}
					}
				}
			})
		}
	}
}

func TestSgemmEveryDim(t *testing.T) { eachKernel(t, testSgemmEveryDim) }

func testSgemmEveryDim(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for d := 1; d <= 70; d++ {
		t.Run(fmt.Sprint(d), func(t *testing.T) {
			check(t, r, gemmCase{m: d, n: 13, k: 9, alpha: 1.5, beta: 0.5})
			check(t, r, gemmCase{m: 13, n: d, k: 9, alpha: 1.5, beta: 0.5, transB: true})
			check(t, r, gemmCase{m: 9, n: 13, k: d, alpha: 1.5, beta: 0.5, transA: true})
		})
	}
}

func TestSgemmAlphaBeta(t *testing.T) { eachKernel(t, testSgemmAlphaBeta) }

func testSgemmAlphaBeta(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, ab := range []struct {
		alpha, beta float32
		nan         bool
	}{{1, 0, true}, {1, 1, false}, {-2, 0.25, false}, {0, 0, true}, {0, 3, false}, {0.5, -1, false}, {2, 0, true}} {
		for _, s := range []struct{ m, n, k int }{{7, 19, 5}, {30, 40, 300}, {145, 70, 20}} {
			tc := gemmCase{m: s.m, n: s.n, k: s.k, alpha: ab.alpha, beta: ab.beta, nanC: ab.nan, pad: 3}
			t.Run(tc.String(), func(t *testing.T) { check(t, r, tc) })
		}
	}
}

func TestSgemmLarge(t *testing.T) { eachKernel(t, testSgemmLarge) }

func testSgemmLarge(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	shapes := []struct{ m, n, k int }{
		{300, 257, 513}, {64, 4100, 40}, {145, 49, 600}, {1, 5000, 3}, {600, 1, 300}, {200, 300, 0},
	}
	if testing.Short() {
		shapes = shapes[:2]
	}
	for _, threads := range []int{1, 2, 3} {
		for _, s := range shapes {
			for _, ta := range []bool{false, true} {
				for _, tb := range []bool{false, true} {
					tc := gemmCase{transA: ta, transB: tb, m: s.m, n: s.n, k: s.k, alpha: 0.75, beta: 0.5, pad: 5, threads: threads}
					t.Run(fmt.Sprintf("threads=%d/%v", threads, tc), func(t *testing.T) {
						check(t, r, tc)
					})
				}
			}
		}
	}
}

func TestSgemmEmpty(t *testing.T) {
	c := []float32{1, 2, 3}
	Sgemm(0, false, false, 0, 3, 4, 1, nil, 4, make([]float32, 12), 3, 0, nil, 3)
	Sgemm(0, false, false, 1, 3, 0, 1, nil, 1, nil, 3, 2, c, 3)
	if want := []float32{2, 4, 6}; fmt.Sprint(c) != fmt.Sprint(want) {
		t.Errorf("k=0 with beta=2: C = %v, want %v", c, want)
	}
}

func TestSgemmPanicsOnShortSlices(t *testing.T) {
	for _, tc := range []struct {
		name string
		call func()
	}{
		{"short A", func() {
			Sgemm(0, false, false, 2, 2, 2, 1, make([]float32, 3), 2, make([]float32, 4), 2, 0, make([]float32, 4), 2)
		}},
		{"short B", func() {
			Sgemm(0, false, true, 2, 2, 2, 1, make([]float32, 4), 2, make([]float32, 3), 2, 0, make([]float32, 4), 2)
		}},
		{"short C", func() {
			Sgemm(0, false, false, 2, 2, 2, 1, make([]float32, 4), 2, make([]float32, 4), 2, 0, make([]float32, 3), 2)
		}},
		{"small lda", func() {
			Sgemm(0, false, false, 2, 2, 2, 1, make([]float32, 4), 1, make([]float32, 4), 2, 0, make([]float32, 4), 2)
		}},
		{"negative m", func() { Sgemm(0, false, false, -1, 2, 2, 1, nil, 2, make([]float32, 4), 2, 0, nil, 2) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", tc.name)
				}
			}()
			tc.call()
		})
	}
}

func TestSgemmNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop items")
	}
	r := rand.New(rand.NewPCG(9, 10))
	m, n, k := 200, 200, 300
	a, b, c := randSlice(r, m*k), randSlice(r, k*n), make([]float32, m*n)
	p := PackB(false, k, n, b, n)
	pa := PackA(false, m, k, a, k)
	for _, threads := range []int{1, 2} {
		calls := func() {
			Sgemm(threads, false, false, m, n, k, 1, a, k, b, n, 0, c, n)
			SgemmPackedB(threads, false, m, 1, a, k, p, 0, c, n)
			SgemmPackedA(threads, pa, false, n, 1, b, n, 0, c, n)
		}
		for range 5 {
			calls() // warm the free lists
		}
		allocs := testing.AllocsPerRun(20, calls)
		if threads > 1 {
			// A helper the OS runs late still holds the previous call's state, so
			// on a busy machine the next call may need a new one: report only.
			t.Logf("threads=%d: %v allocations per 3 calls", threads, allocs)
			continue
		}
		if allocs > 0 {
			t.Errorf("threads=%d: %v allocations per 3 calls, want 0", threads, allocs)
		}
	}
}

// TestSgemmThreadsAgree checks that results are bit-identical for any thread count:
// every element is summed by one goroutine in the same order.
func TestSgemmThreadsAgree(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	m, n, k := 301, 257, 700
	a, b := randSlice(r, m*k), randSlice(r, k*n)
	var want []float32
	for _, threads := range []int{1, 2, 3, 4, 7} {
		c := make([]float32, m*n)
		Sgemm(threads, false, false, m, n, k, 1, a, k, b, n, 0, c, n)
		if want == nil {
			want = c
			continue
		}
		for i := range c {
			if c[i] != want[i] {
				t.Fatalf("threads=%d: C[%d] = %v, want %v (threads=1)", threads, i, c[i], want[i])
			}
		}
	}
}

// eachKernel runs test once per micro-kernel this CPU can run (the assembly ones
// and the portable one), so every path is checked against the naive product
// whichever kernel init chose.
func eachKernel(t *testing.T, test func(t *testing.T)) {
	saved := kernel
	defer func() { kernel = saved }()
	for _, k := range append(cpuKernels(), genericKernel) {
		kernel = k
		t.Run(k.name, test)
	}
}

func TestKernelSelected(t *testing.T) {
	t.Logf("kernel %s", Kernel())
	if ks := cpuKernels(); len(ks) > 0 && kernel.name != ks[0].name {
		t.Errorf("kernel %s selected, the CPU runs %s", kernel.name, ks[0].name)
	}
	for _, k := range append(cpuKernels(), genericKernel) {
		if k.mr*k.nr > len(workspace{}.tile) || gemmMC%k.mr != 0 || gemmNC%k.nr != 0 {
			t.Errorf("kernel %s (%dx%d) does not fit the blocking", k.name, k.mr, k.nr)
		}
	}
}

// FuzzSgemm compares Sgemm, SgemmPackedA and SgemmPackedB with the naive loop on
// random shapes, strides, transposes, scalars and thread counts.
func FuzzSgemm(f *testing.F) {
	f.Add(uint8(6), uint8(16), uint16(8), uint8(0), uint8(0), uint8(1), uint64(1))
	f.Add(uint8(7), uint8(17), uint16(257), uint8(3), uint8(1), uint8(2), uint64(2))
	f.Add(uint8(70), uint8(49), uint16(33), uint8(1), uint8(2), uint8(3), uint64(3))
	f.Add(uint8(1), uint8(1), uint16(1), uint8(2), uint8(3), uint8(4), uint64(4))
	f.Fuzz(func(t *testing.T, m, n uint8, k uint16, pad, flags, threads uint8, seed uint64) {
		r := rand.New(rand.NewPCG(seed, 99))
		scalars := []float32{0, 1, -1, 0.5, 2}
		tc := gemmCase{
			transA: flags&1 != 0, transB: flags&2 != 0,
			m: int(m)%80 + 1, n: int(n)%80 + 1, k: int(k) % 600,
			alpha: scalars[r.IntN(len(scalars))], beta: scalars[r.IntN(len(scalars))],
			pad: int(pad) % 5, nanC: flags&0x80 != 0,
		}
		if tc.nanC {
			tc.beta = 0
		}
		tc.threads = int(threads)%4 + 1
		check(t, r, tc)
	})
}

// TestSgemmConcurrentCallers runs parallel calls from several goroutines at once,
// sharing one PackedB and the worker pool; run it with -race.
func TestSgemmConcurrentCallers(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	m, n, k := 150, 130, 200
	a, b := randSlice(r, m*k), randSlice(r, k*n)
	want := make([]float32, m*n)
	naiveGemm(false, false, m, n, k, 1, a, k, b, n, 0, want, n)
	p := PackB(false, k, n, b, n)
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			c := make([]float32, m*n)
			for range 5 {
				SgemmPackedB(3, false, m, 1, a, k, p, 0, c, n)
				for i := range c {
					if math.Abs(float64(c[i]-want[i])) > 1e-3 {
						errs <- fmt.Errorf("C[%d] = %v, want %v", i, c[i], want[i])
						return
					}
				}
			}
			errs <- nil
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
