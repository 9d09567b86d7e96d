package refit_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/gguf"
	"github.com/refit-ml/refit/tensor"
)

// virtualFile is a file of size bytes: head, then zeros. It lets a test serve a
// checkpoint whose header declares gigabytes of tensor data without storing them.
type virtualFile struct {
	head []byte
	size int64
}

func (v virtualFile) ReadAt(p []byte, off int64) (int, error) {
	if off >= v.size {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), v.size-off))
	clear(p[:n])
	if off < int64(len(v.head)) {
		copy(p[:n], v.head[off:])
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// fileServer serves virtual files with Range support (http.ServeContent) over TLS and
// counts the requests and body bytes it sends.
type fileServer struct {
	*httptest.Server
	mu       sync.Mutex
	files    map[string]virtualFile
	requests atomic.Int64
	sent     atomic.Int64
	// handler, when set, answers instead (hostile servers).
	handler func(w http.ResponseWriter, r *http.Request, f virtualFile)
}

type countingWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (c countingWriter) Flush() { http.NewResponseController(c.ResponseWriter).Flush() }

func (c countingWriter) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.n.Add(int64(n))
	return n, err
}

func newFileServer(t *testing.T) *fileServer {
	s := &fileServer{files: map[string]virtualFile{}}
	s.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		if testing.Verbose() {
			t.Logf("%s %s %s", r.Method, r.URL.Path, r.Header.Get("Range"))
		}
		s.mu.Lock()
		f, ok := s.files[r.URL.Path]
		s.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		cw := countingWriter{w, &s.sent}
		if s.handler != nil {
			s.handler(cw, r, f)
			return
		}
		http.ServeContent(cw, r, r.URL.Path, time.Time{}, io.NewSectionReader(f, 0, f.size))
	}))
	t.Cleanup(s.Close)
	t.Cleanup(refit.SetRemoteTransportForTest(s.Client().Transport))
	return s
}

func (s *fileServer) put(name string, f virtualFile) {
	s.mu.Lock()
	s.files[name] = f
	s.mu.Unlock()
}

func (s *fileServer) putBytes(name string, b []byte) { s.put(name, virtualFile{b, int64(len(b))}) }

// shardedSafetensors returns the index and shard files of a checkpoint of shards
// shards, each declaring perShard bytes of F32 tensors in tensors tensors.
func shardedSafetensors(t *testing.T, shards, tensorsPerShard int, perShard int64) (index []byte, files map[string]virtualFile) {
	files = map[string]virtualFile{}
	weightMap := map[string]string{}
	each := perShard / int64(tensorsPerShard) / 4 * 4
	for s := range shards {
		name := fmt.Sprintf("model-%05d-of-%05d.safetensors", s+1, shards)
		hdr := map[string]any{"__metadata__": map[string]string{"format": "pt"}}
		var off int64
		for i := range tensorsPerShard {
			tn := fmt.Sprintf("layers.%d.w%d", s, i)
			hdr[tn] = map[string]any{"dtype": "F32", "shape": []int64{each / 4}, "data_offsets": []int64{off, off + each}}
			off += each
			weightMap[tn] = name
		}
		js, err := json.Marshal(hdr)
		if err != nil {
			t.Fatal(err)
		}
		head := make([]byte, 8, 8+len(js))
		for i := range 8 {
			head[i] = byte(uint64(len(js)) >> (8 * i))
		}
		head = append(head, js...)
		files[name] = virtualFile{head, int64(len(head)) + off}
	}
	index, err := json.Marshal(map[string]any{"metadata": map[string]any{"total_size": int64(shards) * each * int64(tensorsPerShard)}, "weight_map": weightMap})
	if err != nil {
		t.Fatal(err)
	}
	return index, files
}

// TestHTTPInspectShardedHeadersOnly opens a 10 GB-class sharded safetensors checkpoint
// (and a 1 GB one) over https and checks that reading its headers takes a few requests
// per file and the same number whatever the model's size.
func TestHTTPInspectShardedHeadersOnly(t *testing.T) {
	srv := newFileServer(t)
	type counts struct{ requests, bytes int64 }
	measure := func(dir string, perShard int64) counts {
		index, files := shardedSafetensors(t, 4, 64, perShard)
		srv.putBytes("/"+dir+"/model.safetensors.index.json", index)
		for name, f := range files {
			srv.put("/"+dir+"/"+name, f)
		}
		r0, b0 := srv.requests.Load(), srv.sent.Load()
		m, err := refit.Open(srv.URL + "/" + dir + "/model.safetensors.index.json")
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		defer m.Close()
		var total int64
		for _, tn := range m.Tensors {
			total += tn.Size()
		}
		if len(m.Tensors) != 4*64 || total < 4*perShard*9/10 {
			t.Fatalf("%d tensors of %d bytes, want 256 of about %d", len(m.Tensors), total, 4*perShard)
		}
		return counts{srv.requests.Load() - r0, srv.sent.Load() - b0}
	}
	small := measure("small", 256<<20)
	big := measure("big", 2600<<20) // 4 shards: 10.2 GB
	t.Logf("inspect over https: 1 GB model %d requests %d bytes; 10 GB model %d requests %d bytes", small.requests, small.bytes, big.requests, big.bytes)
	if big.requests != small.requests {
		t.Errorf("requests grow with model size: %d for 1 GB, %d for 10 GB", small.requests, big.requests)
	}
	// One request for the index and one per shard (each header fits the first block).
	if big.requests > 5 {
		t.Errorf("%d requests for an index and 4 shards, want at most 5", big.requests)
	}
	if big.bytes > 512<<10 {
		t.Errorf("%d bytes read for headers, want under 512 KiB", big.bytes)
	}
}

// TestHTTPInspectGGUF reads a GGUF header declaring 10 GB of tensors.
func TestHTTPInspectGGUF(t *testing.T) {
	srv := newFileServer(t)
	m := &refit.Model{}
	m.Metadata.Set("general.architecture", "llama")
	const n = 40
	for i := range n {
		size := int64(256 << 20)
		m.Tensors = append(m.Tensors, &tensor.Tensor{Name: fmt.Sprintf("blk.%d.weight", i), DType: tensor.F32,
			Shape: tensor.Shape{size / 4}, Data: io.NewSectionReader(virtualFile{size: size}, 0, size)})
	}
	size, err := gguf.EncodedSize(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	head := &prefixWriter{limit: 1 << 20}
	if err := gguf.Encode(head, m, nil); !errors.Is(err, errPrefixDone) {
		t.Fatalf("Encode: %v", err)
	}
	srv.put("/model.gguf", virtualFile{head.buf.Bytes(), size})
	r0, b0 := srv.requests.Load(), srv.sent.Load()
	got, err := refit.Open(srv.URL + "/model.gguf")
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer got.Close()
	if len(got.Tensors) != n {
		t.Fatalf("%d tensors, want %d", len(got.Tensors), n)
	}
	req, sent := srv.requests.Load()-r0, srv.sent.Load()-b0
	t.Logf("inspect of a %d-byte GGUF over https: %d requests, %d bytes", size, req, sent)
	if req > 3 || sent > 512<<10 {
		t.Errorf("%d requests and %d bytes for a GGUF header, want at most 3 and 512 KiB", req, sent)
	}
}

var errPrefixDone = errors.New("prefix captured")

// prefixWriter keeps the first limit bytes written, then fails.
type prefixWriter struct {
	buf   bytes.Buffer
	limit int
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	n := min(len(b), p.limit-p.buf.Len())
	p.buf.Write(b[:n])
	if p.buf.Len() >= p.limit {
		return n, errPrefixDone
	}
	return len(b), nil
}

// TestHTTPReadsTensorsLikeLocal compares every tensor's bytes read over https with
// the local file's.
func TestHTTPReadsTensorsLikeLocal(t *testing.T) {
	srv := newFileServer(t)
	const local = "testdata/models/llm/llama-f16.gguf"
	b, err := os.ReadFile(local)
	if err != nil {
		t.Fatal(err)
	}
	srv.putBytes("/m/llama-f16.gguf", b)
	want, err := refit.Open(local)
	if err != nil {
		t.Fatal(err)
	}
	defer want.Close()
	got, err := refit.Open(srv.URL + "/m/llama-f16.gguf")
	if err != nil {
		t.Fatal(err)
	}
	defer got.Close()
	if len(got.Tensors) != len(want.Tensors) {
		t.Fatalf("%d tensors, want %d", len(got.Tensors), len(want.Tensors))
	}
	for i, wt := range want.Tensors {
		wb, err := wt.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		var gb bytes.Buffer
		if _, err := got.Tensors[i].WriteTo(&gb); err != nil {
			t.Fatalf("tensor %s: %v", wt.Name, err)
		}
		if !bytes.Equal(gb.Bytes(), wb) {
			t.Fatalf("tensor %s differs over https", wt.Name)
		}
	}
}

// TestHTTPHostileServers: a server that lies about ranges or lengths gives an error
// that names the cause, never wrong bytes.
func TestHTTPHostileServers(t *testing.T) {
	big := make([]byte, 300<<10)
	for i := range big {
		big[i] = byte(i * 7)
	}
	cases := []struct {
		name    string
		handler func(w http.ResponseWriter, r *http.Request, f virtualFile)
		want    error
	}{
		{"ignores range", func(w http.ResponseWriter, r *http.Request, f virtualFile) {
			w.Header().Set("Content-Length", fmt.Sprint(f.size))
			io.Copy(w, io.NewSectionReader(f, 0, f.size))
		}, refit.ErrUnsupported},
		{"wrong content-range", func(w http.ResponseWriter, r *http.Request, f virtualFile) {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes 100-%d/%d", 100+64<<10-1, f.size))
			w.WriteHeader(http.StatusPartialContent)
			w.Write(f.head[100 : 100+64<<10])
		}, refit.ErrFormat},
		{"wrong total", func(w http.ResponseWriter, r *http.Request, f virtualFile) {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes 0-%d/%d", 64<<10-1, f.size*1000))
			w.WriteHeader(http.StatusPartialContent)
			w.Write(f.head[:64<<10])
		}, nil}, // a different total is a different file: it opens, as that size, and reads fail
		{"garbage content-range", func(w http.ResponseWriter, r *http.Request, f virtualFile) {
			w.Header().Set("Content-Range", "bytes lots")
			w.WriteHeader(http.StatusPartialContent)
			w.Write(f.head[:100])
		}, refit.ErrFormat},
		{"short body", func(w http.ResponseWriter, r *http.Request, f virtualFile) {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes 0-%d/%d", 64<<10-1, f.size))
			w.Header().Set("Content-Length", fmt.Sprint(64<<10))
			w.WriteHeader(http.StatusPartialContent)
			w.Write(f.head[:1000])
		}, io.ErrUnexpectedEOF},
		{"wrong content-length", func(w http.ResponseWriter, r *http.Request, f virtualFile) {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes 0-%d/%d", 64<<10-1, f.size))
			w.Header().Set("Content-Length", "10")
			w.WriteHeader(http.StatusPartialContent)
			w.Write(f.head[:10])
		}, refit.ErrFormat},
		{"forbidden", func(w http.ResponseWriter, r *http.Request, f virtualFile) {
			w.WriteHeader(http.StatusForbidden)
		}, fs.ErrPermission},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := newFileServer(t)
			srv.putBytes("/x.bin", big)
			srv.handler = c.handler
			f, err := refit.OpenFile(srv.URL + "/x.bin")
			if c.want == nil {
				if err != nil {
					t.Fatalf("OpenFile: %v", err)
				}
				defer f.Close()
				p := make([]byte, 4<<10)
				if _, err := f.ReadAt(p, 200<<10); err == nil {
					t.Fatalf("ReadAt from a server whose total changed: no error")
				}
				return
			}
			if err == nil {
				f.Close()
				t.Fatalf("OpenFile = nil error, want %v", c.want)
			}
			if !errors.Is(err, c.want) {
				t.Fatalf("OpenFile error %v, want %v", err, c.want)
			}
		})
	}
}

// TestHTTPSmallFileWithoutRange: a server that ignores Range is fine for a file that
// fits in one block (a config.json, an index): it is read whole.
func TestHTTPSmallFileWithoutRange(t *testing.T) {
	srv := newFileServer(t)
	data := []byte(strings.Repeat("refit ", 1000))
	srv.putBytes("/small.txt", data)
	srv.handler = func(w http.ResponseWriter, r *http.Request, f virtualFile) { w.Write(f.head) }
	f, err := refit.OpenFile(srv.URL + "/small.txt")
	if err != nil {
		t.Fatalf("OpenFile: %v", err)
	}
	defer f.Close()
	got := make([]byte, f.Size())
	if err := refit.ReadFullAt(f, got, 0); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("ReadAt = %v, bytes equal %v", err, bytes.Equal(got, data))
	}
}

func TestHTTPMissingAndUnwritable(t *testing.T) {
	srv := newFileServer(t)
	if _, err := refit.Open(srv.URL + "/nope.safetensors"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open(missing) = %v, want fs.ErrNotExist", err)
	}
	if _, err := refit.CreatePending(srv.URL+"/out.gguf", false); !errors.Is(err, refit.ErrUnsupported) {
		t.Errorf("CreatePending(https) = %v, want ErrUnsupported", err)
	}
}

// TestHTTPStalledServer: a server that stops sending mid-response (a frozen server, a
// lost connection without a reset) fails the read once it has sent nothing for the
// idle timeout, instead of hanging it.
func TestHTTPStalledServer(t *testing.T) {
	defer refit.SetIdleTimeoutForTest(300 * time.Millisecond)()
	srv := newFileServer(t)
	big := make([]byte, 4<<20)
	srv.putBytes("/x.bin", big)
	release := make(chan struct{})
	defer close(release)
	var stallOpen atomic.Bool
	srv.handler = func(w http.ResponseWriter, r *http.Request, f virtualFile) {
		first, last, ok := strings.Cut(strings.TrimPrefix(r.Header.Get("Range"), "bytes="), "-")
		var a, b int64
		fmt.Sscan(first, &a)
		fmt.Sscan(last, &b)
		if !ok || stallOpen.Load() == (a != 0) {
			http.ServeContent(w, r, "x.bin", time.Time{}, io.NewSectionReader(f, 0, f.size))
			return
		}
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", a, b, f.size))
		w.Header().Set("Content-Length", fmt.Sprint(b-a+1))
		w.WriteHeader(http.StatusPartialContent)
		w.Write(big[a : a+100])
		w.(http.Flusher).Flush()
		select { // then nothing, until the client gives up or the test ends
		case <-r.Context().Done():
		case <-release:
		}
	}
	f, err := refit.OpenFile(srv.URL + "/x.bin")
	if err != nil {
		t.Fatalf("OpenFile: %v", err)
	}
	defer f.Close()
	p := make([]byte, 2<<20) // a direct read
	if _, err := f.ReadAt(p, 1<<20); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("ReadAt from a stalled server = %v, want os.ErrDeadlineExceeded", err)
	}
	stallOpen.Store(true)
	if _, err := refit.OpenFile(srv.URL + "/x.bin"); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("OpenFile of a stalled server = %v, want os.ErrDeadlineExceeded", err)
	}
}

// TestHTTPErrorsHideQuery: a pre-signed URL's query string (a credential) is sent but
// never printed in errors.
func TestHTTPErrorsHideQuery(t *testing.T) {
	srv := newFileServer(t)
	url := srv.URL + "/gone.safetensors?X-Amz-Signature=secret123"
	srv.Close()
	_, err := refit.Open(url)
	if err == nil || strings.Contains(err.Error(), "secret123") {
		t.Fatalf("Open(stopped server) = %v; want an error without the query string", err)
	}
}
