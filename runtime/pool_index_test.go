package runtime

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/refit-ml/refit/tensor"
)

// TestPoolBestFitMatchesScan drives the pool with random allocations, releases and
// retirements and checks every choice against the scan the index replaced: the
// smallest free range that fits, the earliest block's and lowest offset on ties, a
// new block when none fits, and freed neighbours merged.
func TestPoolBestFitMatchesScan(t *testing.T) {
	type ext struct{ off, n int }
	type refBlock struct {
		blk  *block
		n    int
		free []ext // by offset, merged
	}
	r := rand.New(rand.NewPCG(1, 2))
	p := newPool(newMemBudget(1<<30, nil))
	var ref []*refBlock // live blocks in creation order
	find := func(blk *block) int {
		return slices.IndexFunc(ref, func(b *refBlock) bool { return b.blk == blk })
	}
	var live []*buffer
	for step := range 20000 {
		switch op := r.IntN(10); {
		case op < 5 || len(live) == 0: // get
			n := 1 + r.IntN(64)
			if r.IntN(4) == 0 {
				n = 1 + r.IntN(512)
			}
			wantB, wantAt := -1, -1
			for bi, b := range ref {
				for i, e := range b.free {
					if e.n >= n && (wantB < 0 || e.n < ref[wantB].free[wantAt].n) {
						wantB, wantAt = bi, i
					}
				}
			}
			v, err := p.get(tensor.F32, []int64{int64(n)}, int64(n), true)
			if err != nil {
				t.Fatal(err)
			}
			b := v.buf
			if wantB < 0 {
				if find(b.blk) >= 0 || b.off != 0 {
					t.Fatalf("step %d: get(%d) reused block %d offset %d, want a new block", step, n, find(b.blk), b.off)
				}
				ref = append(ref, &refBlock{blk: b.blk, n: n})
			} else {
				rb := ref[wantB]
				e := &rb.free[wantAt]
				if b.blk != rb.blk || b.off != e.off {
					t.Fatalf("step %d: get(%d) took block %d offset %d, want block %d offset %d", step, n, find(b.blk), b.off, wantB, e.off)
				}
				e.off += n
				e.n -= n
				if e.n == 0 {
					rb.free = slices.Delete(rb.free, wantAt, wantAt+1)
				}
			}
			live = append(live, b)
		case op < 9: // put
			i := r.IntN(len(live))
			b := live[i]
			live = slices.Delete(live, i, i+1)
			if bi := find(b.blk); bi >= 0 {
				rb := ref[bi]
				e := ext{b.off, sliceLen(b.data)}
				j, _ := slices.BinarySearchFunc(rb.free, e.off, func(f ext, off int) int { return f.off - off })
				rb.free = slices.Insert(rb.free, j, e)
				if j+1 < len(rb.free) && rb.free[j].off+rb.free[j].n == rb.free[j+1].off {
					rb.free[j].n += rb.free[j+1].n
					rb.free = slices.Delete(rb.free, j+1, j+2)
				}
				if j > 0 && rb.free[j-1].off+rb.free[j-1].n == rb.free[j].off {
					rb.free[j-1].n += rb.free[j].n
					rb.free = slices.Delete(rb.free, j, j+1)
				}
			}
			p.put(b)
		default: // a value leaves the session
			b := live[r.IntN(len(live))]
			if bi := find(b.blk); bi >= 0 {
				ref = slices.Delete(ref, bi, bi+1)
			}
			p.retire(b.blk)
		}
		if step%1000 == 999 {
			if len(p.blocks) != len(ref) {
				t.Fatalf("step %d: pool holds %d blocks, want %d", step, len(p.blocks), len(ref))
			}
			for _, rb := range ref {
				got := 0
				for _, n := range rb.blk.starts {
					got += n
				}
				want := 0
				for _, e := range rb.free {
					want += e.n
				}
				if got != want || rb.blk.freeN != want || len(rb.blk.starts) != len(rb.free) {
					t.Fatalf("step %d: block has %d free in %d ranges (freeN %d), want %d in %d", step, got, len(rb.blk.starts), rb.blk.freeN, want, len(rb.free))
				}
			}
		}
	}
	// Everything released: evict empties the pool and its index.
	for _, b := range live {
		p.put(b)
	}
	p.evict()
	if len(p.blocks) != 0 || p.free[tensor.F32].root != nil {
		t.Fatalf("after evict: %d blocks, index empty %v", len(p.blocks), p.free[tensor.F32].root == nil)
	}
}
