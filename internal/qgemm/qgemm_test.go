package qgemm

import (
	"math/rand/v2"
	"sync"
	"testing"
)

// kernels lists every kernel this machine runs: the assembly ones and Go.
func kernels() []microKernel { return append(cpuKernels(), genericKernel) }

// withKernel runs f with the package's kernel switched to k.
func withKernel(t testing.TB, k microKernel, f func()) {
	saved := kernel
	kernel = k
	defer func() { kernel = saved }()
	f()
}

// naive is the definition: int32 sums of (a - za)(b - zb) over the raw typed values.
func naive(m, n, k int, a []byte, aSigned bool, za []int32, b []byte, bUnsigned bool, zb []int32) []int32 {
	val := func(x byte, signed bool) int32 {
		if signed {
			return int32(int8(x))
		}
		return int32(x)
	}
	c := make([]int32, m*n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s int32
			for p := 0; p < k; p++ {
				s += (val(a[i*k+p], aSigned) - at(za, i)) * (val(b[p*n+j], !bUnsigned) - at(zb, j))
			}
			c[i*n+j] = s
		}
	}
	return c
}

func randBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func zeroPoints(r *rand.Rand, n int, signed bool) []int32 {
	z := make([]int32, n)
	for i := range z {
		if signed {
			z[i] = int32(int8(r.Uint32()))
		} else {
			z[i] = int32(uint8(r.Uint32()))
		}
	}
	return z
}

// TestGemmExact compares every kernel with the definition on extreme and random
// bytes, every pairing of 8-bit types, scalar and per-row/column zero points, and
// sizes around the tile and group edges.
func TestGemmExact(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	sizes := [][3]int{{1, 1, 1}, {8, 32, 4}, {7, 31, 3}, {9, 33, 5}, {17, 65, 130}, {64, 32, 256}, {65, 70, 257}, {130, 10, 9}, {3, 100, 1030}}
	for _, k := range kernels() {
		for _, sz := range sizes {
			m, n, kk := sz[0], sz[1], sz[2]
			for variant := 0; variant < 4; variant++ {
				aSigned, bUnsigned := variant&1 != 0, variant&2 != 0
				a, b := randBytes(r, m*kk), randBytes(r, kk*n)
				if variant == 0 {
					// the largest products: 255 x -128 everywhere
					for i := range a {
						a[i] = 255
					}
					for i := range b {
						b[i] = 0x80
					}
				}
				za, zb := zeroPoints(r, 1, aSigned), zeroPoints(r, 1, !bUnsigned)
				if variant%2 == 1 {
					za, zb = zeroPoints(r, m, aSigned), zeroPoints(r, n, !bUnsigned)
				}
				if variant < 2 && sz[2]%2 == 0 {
					zb = make([]int32, len(zb)) // int8 B with zero points 0: no row sums needed
				}
				want := naive(m, n, kk, a, aSigned, za, b, bUnsigned, zb)
				p := Pack(kk, n, b, n, 1, !bUnsigned)
				for _, threads := range []int{1, 3} {
					ldc := n + 3
					c := make([]int32, m*ldc)
					withKernel(t, k, func() { Gemm(threads, m, a, kk, aSigned, za, p, zb, c, ldc) })
					for i := 0; i < m; i++ {
						for j := 0; j < n; j++ {
							if c[i*ldc+j] != want[i*n+j] {
								t.Fatalf("%s m=%d n=%d k=%d variant %d threads %d: c[%d,%d] = %d, want %d", k.name, m, n, kk, variant, threads, i, j, c[i*ldc+j], want[i*n+j])
							}
						}
						for j := n; j < ldc; j++ {
							if c[i*ldc+j] != 0 {
								t.Fatalf("%s: wrote past column %d of row %d", k.name, n, i)
							}
						}
					}
				}
			}
		}
	}
}

// TestPackTransposed packs B from a row-major B^T (swapped strides).
func TestPackTransposed(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	m, n, k := 10, 40, 27
	a, bt := randBytes(r, m*k), randBytes(r, n*k)
	b := make([]byte, k*n)
	for p := 0; p < k; p++ {
		for j := 0; j < n; j++ {
			b[p*n+j] = bt[j*k+p]
		}
	}
	za, zb := []int32{3}, []int32{-7}
	want := naive(m, n, k, a, false, za, b, false, zb)
	c := make([]int32, m*n)
	Gemm(1, m, a, k, false, za, Pack(k, n, bt, 1, k, true), zb, c, n)
	for i := range c {
		if c[i] != want[i] {
			t.Fatalf("c[%d] = %d, want %d", i, c[i], want[i])
		}
	}
}

// TestGemmPacked checks products with a packed A (weights) and caller-filled panels
// (activations), in both type orders, against the definition, with every kernel.
func TestGemmPacked(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, k := range kernels() {
		for _, sz := range [][3]int{{8, 32, 4}, {16, 196, 144}, {5, 33, 9}, {70, 3, 260}} {
			m, n, kk := sz[0], sz[1], sz[2]
			for variant := 0; variant < 4; variant++ {
				aSigned, bSigned := variant&1 == 0, variant&2 == 0
				a, b := randBytes(r, m*kk), randBytes(r, kk*n)
				za, zb := zeroPoints(r, m, aSigned), zeroPoints(r, 1, bSigned)
				if variant == 0 {
					za = make([]int32, m)
				}
				want := naive(m, n, kk, a, aSigned, za, b, !bSigned, zb)
				pa := PackA(m, kk, a, kk, aSigned, bSigned)
				pb := NewPanels(kk, n, bSigned)
				panels := pb.Panels()
				for j := 0; j < n; j++ {
					for q := 0; q < kk; q++ {
						panels[(j/32)*pb.PanelSize()+(q/4)*128+(j%32)*4+q%4] = b[q*n+j]
					}
				}
				c := make([]int32, m*n)
				withKernel(t, k, func() { GemmPacked(2, pa, za, pb, zb, c, n) })
				for i := range c {
					if c[i] != want[i] {
						t.Fatalf("%s %v variant %d: c[%d] = %d, want %d", k.name, sz, variant, i, c[i], want[i])
					}
				}
			}
		}
	}
}

// TestGemmThen checks that GemmThen hands every row to then exactly once, already
// final (compared with the definition inside the call), with whole-row tasks (one
// thread, many rows) and with the panels split between tasks (few rows, 3 threads).
func TestGemmThen(t *testing.T) {
	r := rand.New(rand.NewPCG(19, 20))
	for _, sz := range [][4]int{{130, 70, 40, 1}, {8, 200, 36, 3}, {1, 33, 5, 3}} {
		m, n, k, threads := sz[0], sz[1], sz[2], sz[3]
		a, b := randBytes(r, m*k), randBytes(r, k*n)
		za, zb := []int32{7}, []int32{0}
		want := naive(m, n, k, a, false, za, b, false, zb)
		c := make([]int32, m*n)
		var mu sync.Mutex
		seen := make([]int, m)
		GemmThen(threads, m, a, k, false, za, Pack(k, n, b, n, 1, true), zb, c, n, func(i0, i1 int) {
			for i := i0; i < i1; i++ {
				for j := 0; j < n; j++ {
					if c[i*n+j] != want[i*n+j] {
						t.Errorf("%v: row %d handed over before it was final", sz, i)
						return
					}
				}
			}
			mu.Lock()
			for i := i0; i < i1; i++ {
				seen[i]++
			}
			mu.Unlock()
		})
		for i, v := range seen {
			if v != 1 {
				t.Fatalf("%v: row %d handed over %d times", sz, i, v)
			}
		}
	}
}
