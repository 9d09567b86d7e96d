package hostile

import (
	"encoding/binary"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// Hostile web servers: remote inputs are read with Range requests, and a server that
// lies about the range, the total size or the body length must give a clear error -
// never a crash, a hang, an allocation of what the server claims, or wrong bytes.
func TestRemoteHostileServers(t *testing.T) {
	// A valid small safetensors header; the servers below misreport around it.
	js := `{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}`
	file := make([]byte, 8, 8+len(js)+16)
	binary.LittleEndian.PutUint64(file, uint64(len(js)))
	file = append(append(file, js...), make([]byte, 16)...)
	huge := make([]byte, 8)
	binary.LittleEndian.PutUint64(huge, 1<<40) // a header length of 1 TB

	cases := []struct {
		name    string
		handler http.HandlerFunc
		want    string // in stderr
	}{
		{"range ignored on a large file", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "100000000")
			w.Write(file)
		}, "Range"},
		{"other range than asked", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes 5-%d/%d", len(file)-1, len(file)))
			w.WriteHeader(http.StatusPartialContent)
			w.Write(file[5:])
		}, "server sent bytes"},
		{"content-length disagrees", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes 0-%d/%d", len(file)-1, len(file)))
			w.Header().Set("Content-Length", "7")
			w.WriteHeader(http.StatusPartialContent)
			w.Write(file[:7])
		}, "Content-Length"},
		{"claims a terabyte, sends a header length of a terabyte", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes 0-%d/%d", 65535, int64(1)<<42))
			w.WriteHeader(http.StatusPartialContent)
			w.Write(huge)
		}, "refit"},
		{"body longer than the range", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes 0-%d/%d", len(file)-1, len(file)))
			w.WriteHeader(http.StatusPartialContent)
			w.(http.Flusher).Flush() // chunked: no Content-Length to catch it early
			w.Write(file)
			w.Write([]byte(strings.Repeat("x", 1<<20)))
		}, "more bytes"},
		{"garbage content-range", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Range", "bytes=everything")
			w.WriteHeader(http.StatusPartialContent)
			w.Write(file)
		}, "Content-Range"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := httptest.NewServer(c.handler)
			defer srv.Close()
			r := runRefit(t, limits{memKiB: 2 << 20}, "inspect", srv.URL+"/model.safetensors")
			if r.code == 0 || !strings.Contains(r.stderr, c.want) {
				t.Fatalf("want a non-zero exit and %q in stderr; got %v", c.want, r)
			}
		})
	}
}
