package refit

import (
	"sync"
	"unsafe"
)

// liveMappings lists the mappings of the open MappedFiles, so that ReleaseMapped can
// tell a slice of a file's mapping (whose pages the kernel can drop and read again
// from the file) from other memory (where dropping pages would lose data).
var liveMappings struct {
	sync.Mutex
	maps map[*byte]liveMapping // first byte -> the whole mapping
}

type liveMapping struct {
	m    []byte
	name string // the file, as errors name it
}

func registerMapping(m []byte, name string) {
	if len(m) == 0 {
		return
	}
	liveMappings.Lock()
	defer liveMappings.Unlock()
	if liveMappings.maps == nil {
		liveMappings.maps = map[*byte]liveMapping{}
	}
	liveMappings.maps[&m[0]] = liveMapping{m, name}
}

func unregisterMapping(m []byte) {
	if len(m) == 0 {
		return
	}
	liveMappings.Lock()
	defer liveMappings.Unlock()
	delete(liveMappings.maps, &m[0])
}

// ReleaseMapped drops the pages of b from the process's resident set when b lies in
// the mapping of an open MappedFile (such as the weights onnx.LoadMapped leaves in
// the file), and reports whether it did. The bytes stay readable: the next read
// faults them in again from the page cache. Callers release data they are done
// with for a long time, as a kernel that packed a weight into its own layout is.
// Any other memory is left alone.
func ReleaseMapped(b []byte) bool {
	liveMappings.Lock()
	defer liveMappings.Unlock() // held so that no Close unmaps the range meanwhile
	m, off, ok := findMappingLocked(b)
	if ok {
		release(m, off, int64(len(b)))
	}
	return ok
}

// IsMapped reports whether b lies in the mapping of an open MappedFile: memory
// backed by the file, not allocated by Go.
func IsMapped(b []byte) bool {
	liveMappings.Lock()
	defer liveMappings.Unlock()
	_, _, ok := findMappingLocked(b)
	return ok
}

// findMappingLocked returns the mapping that holds b and b's offset in it.
func findMappingLocked(b []byte) ([]byte, int64, bool) {
	if len(b) == 0 {
		return nil, 0, false
	}
	p := uintptr(unsafe.Pointer(&b[0]))
	for _, lm := range liveMappings.maps {
		m := lm.m
		base := uintptr(unsafe.Pointer(&m[0]))
		if p >= base && p-base < uintptr(len(m)) && uintptr(len(b)) <= uintptr(len(m))-(p-base) {
			return m, int64(p - base), true
		}
	}
	return nil, 0, false
}
