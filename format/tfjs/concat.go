package tfjs

import (
	"io"
	"sort"

	"github.com/refit-ml/refit"
)

// concat is the shard files of a group read as one byte sequence.
type concat struct {
	parts []refit.File
	ends  []int64 // ends[i] is the offset just past part i
}

func newConcat(parts []refit.File) *concat {
	c := &concat{parts: parts}
	var end int64
	for _, p := range parts {
		end += p.Size()
		c.ends = append(c.ends, end)
	}
	return c
}

// Size is the total size of the shards.
func (c *concat) Size() int64 {
	if len(c.ends) == 0 {
		return 0
	}
	return c.ends[len(c.ends)-1]
}

// ReadAt implements io.ReaderAt across shard boundaries.
func (c *concat) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, io.EOF
	}
	total := 0
	i := sort.Search(len(c.ends), func(i int) bool { return c.ends[i] > off })
	for len(p) > 0 && i < len(c.parts) {
		start := c.ends[i] - c.parts[i].Size()
		k := min(int64(len(p)), c.ends[i]-off)
		n, err := c.parts[i].ReadAt(p[:k], off-start)
		total += n
		if int64(n) < k {
			if err == nil {
				err = io.ErrUnexpectedEOF
			}
			return total, err
		}
		p, off = p[k:], off+k
		i++
	}
	if len(p) > 0 {
		return total, io.EOF
	}
	return total, nil
}
