package graph

import "strconv"

// Names hands out names no one else in a graph uses. The zero value is ready.
type Names struct {
	// Clean, when set, rewrites every base given to Fresh first (say, to drop
	// characters a target does not accept in names).
	Clean func(base string) string
	used  map[string]bool
}

// Reserve marks name as taken ("" is ignored).
func (n *Names) Reserve(name string) {
	if name == "" {
		return
	}
	if n.used == nil {
		n.used = map[string]bool{}
	}
	n.used[name] = true
}

// Used reports whether name is taken.
func (n *Names) Used(name string) bool { return n.used[name] }

// Fresh returns base (after Clean) if it is free, else the first free base_1,
// base_2, ..., and reserves it.
func (n *Names) Fresh(base string) string {
	if n.Clean != nil {
		base = n.Clean(base)
	}
	name := base
	for i := 1; n.used[name]; i++ {
		name = base + "_" + strconv.Itoa(i)
	}
	n.Reserve(name)
	return name
}
