package arch

import (
	"testing"
)

func TestMatchExpert(t *testing.T) {
	const p = "model.layers.{bid}.block_sparse_moe.experts.{xid}.w1"
	tests := []struct {
		name string
		b, x int
		ok   bool
	}{
		{"model.layers.3.block_sparse_moe.experts.7.w1", 3, 7, true},
		{"model.layers.12.block_sparse_moe.experts.0.w1", 12, 0, true},
		{"model.layers.3.block_sparse_moe.experts.07.w1", 0, 0, false},
		{"model.layers.3.block_sparse_moe.experts..w1", 0, 0, false},
		{"model.layers.x.block_sparse_moe.experts.1.w1", 0, 0, false},
		{"model.layers.3.block_sparse_moe.experts.1.w2", 0, 0, false},
	}
	for _, tc := range tests {
		b, x, ok := matchExpert(p, tc.name)
		if ok != tc.ok || (ok && (b != tc.b || x != tc.x)) {
			t.Errorf("matchExpert(%q) = %d, %d, %v; want %d, %d, %v", tc.name, b, x, ok, tc.b, tc.x, tc.ok)
		}
	}
}
