package runtime

import "math/rand/v2"

// freeRange is an unused range [off, off+n) of a pooled block. Ranges are ordered by
// size, then by the block's creation, then by offset: the first range at least as
// large as a request is the best fit, the earliest block's on ties.
type freeRange struct {
	blk *block
	off int
	n   int
}

func (a freeRange) less(b freeRange) bool {
	if a.n != b.n {
		return a.n < b.n
	}
	if a.blk.seq != b.blk.seq {
		return a.blk.seq < b.blk.seq
	}
	return a.off < b.off
}

// rangeTree is a treap of free ranges ordered by less: insertion, deletion and the
// best-fit search take O(log n) expected, so a Run with many live buffers does not
// scan them all for each allocation.
type rangeTree struct {
	root  *rangeNode
	spare *rangeNode // deleted nodes, linked by r, reused by insert
}

type rangeNode struct {
	key  freeRange
	pri  uint32
	l, r *rangeNode
}

func (t *rangeTree) insert(k freeRange) {
	nd := t.spare
	if nd != nil {
		t.spare = nd.r
		*nd = rangeNode{}
	} else {
		nd = &rangeNode{}
	}
	nd.key, nd.pri = k, rand.Uint32()
	t.root = insertNode(t.root, nd)
}

func insertNode(t, nd *rangeNode) *rangeNode {
	if t == nil {
		return nd
	}
	if nd.pri > t.pri {
		nd.l, nd.r = splitNodes(t, nd.key)
		return nd
	}
	if nd.key.less(t.key) {
		t.l = insertNode(t.l, nd)
	} else {
		t.r = insertNode(t.r, nd)
	}
	return t
}

// splitNodes splits t into the keys before k and the keys from k on.
func splitNodes(t *rangeNode, k freeRange) (*rangeNode, *rangeNode) {
	if t == nil {
		return nil, nil
	}
	if t.key.less(k) {
		l, r := splitNodes(t.r, k)
		t.r = l
		return t, r
	}
	l, r := splitNodes(t.l, k)
	t.l = r
	return l, t
}

// mergeNodes joins two treaps whose keys in a all come before those in b.
func mergeNodes(a, b *rangeNode) *rangeNode {
	if a == nil {
		return b
	}
	if b == nil {
		return a
	}
	if a.pri > b.pri {
		a.r = mergeNodes(a.r, b)
		return a
	}
	b.l = mergeNodes(a, b.l)
	return b
}

// remove deletes k, which must be in the tree.
func (t *rangeTree) remove(k freeRange) {
	link := &t.root
	for nd := *link; nd != nil; nd = *link {
		switch {
		case k.less(nd.key):
			link = &nd.l
		case nd.key.less(k):
			link = &nd.r
		default:
			*link = mergeNodes(nd.l, nd.r)
			*nd = rangeNode{r: t.spare}
			t.spare = nd
			return
		}
	}
	panic("runtime: pool range missing from its index")
}

// bestFit returns the smallest range of at least n elements (the earliest block's
// on ties), or ok false.
func (t *rangeTree) bestFit(n int) (best freeRange, ok bool) {
	for nd := t.root; nd != nil; {
		if nd.key.n >= n {
			best, ok = nd.key, true
			nd = nd.l
		} else {
			nd = nd.r
		}
	}
	return best, ok
}
