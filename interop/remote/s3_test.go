package remote_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/refit-ml/refit/internal/testtool"
)

var (
	refitBin string
	server   *testtool.S3Server
	startErr error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "refit-s3-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if refitBin, err = testtool.BuildRefit(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	server, startErr = testtool.StartS3Server(filepath.Join(dir, "weed"))
	code := m.Run()
	if server != nil {
		server.Stop()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// needServer returns the package's server, creating the named buckets.
func needServer(t *testing.T, buckets ...string) *testtool.S3Server {
	t.Helper()
	if server == nil {
		testtool.SkipWithoutSeaweedFS(t, startErr)
	}
	for _, b := range buckets {
		server.MakeBucket(t, b)
	}
	return server
}

type run struct {
	code           int
	stdout, stderr string
	maxRSSKiB      int64
}

func (r run) String() string {
	return fmt.Sprintf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
}

// refit runs the refit binary with env added to the environment.
func refit(t *testing.T, env []string, args ...string) run {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// Peak RSS through GNU time: a child's own rusage starts from the RSS of the process
	// that forked it (Linux carries maxrss across exec), here the test's, not refit's.
	rssFile := filepath.Join(t.TempDir(), "rss")
	cmd := exec.CommandContext(ctx, "/usr/bin/time", append([]string{"-f", "%M", "-o", rssFile, refitBin}, args...)...)
	if _, err := os.Stat("/usr/bin/time"); err != nil {
		cmd = exec.CommandContext(ctx, refitBin, args...)
	}
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := run{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		t.Fatalf("refit %v: %v", args, err)
	}
	if b, err := os.ReadFile(rssFile); err == nil {
		fields := strings.Fields(string(b))
		if len(fields) > 0 {
			fmt.Sscan(fields[len(fields)-1], &r.maxRSSKiB)
		}
	}
	return r
}

func mustRun(t *testing.T, env []string, args ...string) run {
	t.Helper()
	r := refit(t, env, args...)
	if r.code != 0 {
		t.Fatalf("refit %s: %v", strings.Join(args, " "), r)
	}
	return r
}

// safetensorsFile writes a safetensors checkpoint of n F32 tensors of elems values
// each (deterministic pseudo-random values) and returns its bytes' path.
func safetensorsFile(t *testing.T, dir, name string, n, elems int, seed uint64) string {
	return safetensorsNamed(t, dir, name, "layers", n, elems, seed)
}

// safetensorsNamed is safetensorsFile with tensors named PREFIX.I.weight.
func safetensorsNamed(t *testing.T, dir, name, prefix string, n, elems int, seed uint64) string {
	t.Helper()
	hdr := map[string]any{"__metadata__": map[string]string{"format": "pt"}}
	var off int64
	names := make([]string, n)
	for i := range n {
		names[i] = fmt.Sprintf("%s.%d.weight", prefix, i)
		hdr[names[i]] = map[string]any{"dtype": "F32", "shape": []int{elems / 64, 64}, "data_offsets": []int64{off, off + int64(elems)*4}}
		off += int64(elems) * 4
	}
	js, err := json.Marshal(hdr)
	if err != nil {
		t.Fatal(err)
	}
	for len(js)%8 != 0 {
		js = append(js, ' ')
	}
	path := filepath.Join(dir, name)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	binary.Write(f, binary.LittleEndian, uint64(len(js)))
	f.Write(js)
	rng := rand.New(rand.NewPCG(seed, 1))
	buf := make([]byte, elems*4)
	for range n {
		for j := 0; j < elems; j++ {
			binary.LittleEndian.PutUint32(buf[4*j:], math.Float32bits(float32(rng.NormFloat64()*0.05)))
		}
		if _, err := f.Write(buf); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

func upload(t *testing.T, srv *testtool.S3Server, bucket, key, path string) {
	t.Helper()
	if _, err := srv.Client(t).FPutObject(context.Background(), bucket, key, path, minio.PutObjectOptions{}); err != nil {
		t.Fatalf("upload %s: %v", key, err)
	}
}

func download(t *testing.T, srv *testtool.S3Server, bucket, key string) []byte {
	t.Helper()
	obj, err := srv.Client(t).GetObject(context.Background(), bucket, key, minio.GetObjectOptions{})
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	defer obj.Close()
	b, err := io.ReadAll(obj)
	if err != nil {
		t.Fatalf("get %s/%s: %v", bucket, key, err)
	}
	return b
}

// keys lists a bucket's objects under prefix.
func keys(t *testing.T, srv *testtool.S3Server, bucket, prefix string) []string {
	t.Helper()
	var out []string
	for o := range srv.Client(t).ListObjects(context.Background(), bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if o.Err != nil {
			t.Fatalf("list %s: %v", bucket, o.Err)
		}
		out = append(out, o.Key)
	}
	sort.Strings(out)
	return out
}

// incomplete lists the multipart uploads left in a bucket (an aborted output must
// leave none).
func incomplete(t *testing.T, srv *testtool.S3Server, bucket string) []string {
	t.Helper()
	var out []string
	for u := range srv.Client(t).ListIncompleteUploads(context.Background(), bucket, "", true) {
		if u.Err != nil {
			t.Fatalf("list uploads %s: %v", bucket, u.Err)
		}
		out = append(out, u.Key)
	}
	return out
}

type inspectJSON struct {
	Format  string `json:"format"`
	Tensors []struct {
		Name string `json:"name"`
	} `json:"tensors"`
	Bytes  int64 `json:"tensor_bytes"`
	Remote *struct {
		Requests  int64 `json:"requests"`
		BytesRead int64 `json:"bytes_read"`
	} `json:"remote"`
}

// shardedCheckpoint writes an index and shards of n tensors each into dir.
func shardedCheckpoint(t *testing.T, dir string, shards, n, elems int) []string {
	t.Helper()
	weightMap := map[string]string{}
	var names []string
	for s := range shards {
		name := fmt.Sprintf("model-%05d-of-%05d.safetensors", s+1, shards)
		safetensorsNamed(t, dir, name, fmt.Sprintf("s%d.ly", s), n, elems, uint64(s))
		for i := range n {
			weightMap[fmt.Sprintf("s%d.ly.%d.weight", s, i)] = name
		}
		names = append(names, name)
	}
	idx, _ := json.Marshal(map[string]any{"metadata": map[string]any{}, "weight_map": weightMap})
	if err := os.WriteFile(filepath.Join(dir, "model.safetensors.index.json"), idx, 0o644); err != nil {
		t.Fatal(err)
	}
	return append(names, "model.safetensors.index.json")
}

// TestInspectShardedReadsHeadersOnly inspects a sharded checkpoint in S3 at two sizes
// (4 shards of 8 MB and of 32 MB): the requests are the same, a few per file, and the
// bytes read a small fraction of a shard.
func TestInspectShardedReadsHeadersOnly(t *testing.T) {
	srv := needServer(t, "models")
	measure := func(prefix string, elems int) inspectJSON {
		dir := t.TempDir()
		for _, f := range shardedCheckpoint(t, dir, 4, 8, elems) {
			upload(t, srv, "models", prefix+"/"+f, filepath.Join(dir, f))
		}
		r := mustRun(t, srv.Env(), "inspect", "--json", "s3://models/"+prefix+"/model.safetensors.index.json")
		var got inspectJSON
		if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
			t.Fatalf("inspect --json: %v\n%s", err, r.stdout)
		}
		if got.Remote == nil || len(got.Tensors) != 32 {
			t.Fatalf("inspect --json: %d tensors, remote %v; want 32 tensors and request counts", len(got.Tensors), got.Remote)
		}
		return got
	}
	small := measure("small", 1<<18) // 4 shards x 8 MB
	big := measure("big", 1<<20)     // 4 shards x 32 MB
	t.Logf("inspect s3:// sharded: %d MB checkpoint %d requests %d bytes; %d MB checkpoint %d requests %d bytes",
		small.Bytes>>20, small.Remote.Requests, small.Remote.BytesRead, big.Bytes>>20, big.Remote.Requests, big.Remote.BytesRead)
	if small.Remote.Requests != big.Remote.Requests {
		t.Errorf("requests grow with the checkpoint: %d for %d MB, %d for %d MB", small.Remote.Requests, small.Bytes>>20, big.Remote.Requests, big.Bytes>>20)
	}
	if big.Remote.Requests > 8 || big.Remote.BytesRead > 512<<10 {
		t.Errorf("inspect took %d requests and %d bytes, want at most 8 and 512 KiB", big.Remote.Requests, big.Remote.BytesRead)
	}
	// The folder (a prefix) opens as a local folder does: listed, then the index.
	r := mustRun(t, srv.Env(), "inspect", "--json", "s3://models/big/")
	var folder inspectJSON
	if err := json.Unmarshal([]byte(r.stdout), &folder); err != nil {
		t.Fatalf("inspect --json: %v\n%s", err, r.stdout)
	}
	if len(folder.Tensors) != 32 || folder.Bytes != big.Bytes || folder.Remote == nil {
		t.Fatalf("inspect s3://models/big/: %d tensors, %d bytes; want 32 tensors, %d bytes", len(folder.Tensors), folder.Bytes, big.Bytes)
	}
	t.Logf("inspect s3://models/big/ (the folder): %d requests, %d bytes", folder.Remote.Requests, folder.Remote.BytesRead)
}

// TestConvertS3ToS3MatchesLocal converts and quantizes S3 -> S3 and compares the
// objects with the files of the same commands run locally, byte for byte.
func TestConvertS3ToS3MatchesLocal(t *testing.T) {
	srv := needServer(t, "inputs", "outputs")
	dir := t.TempDir()
	st := safetensorsFile(t, dir, "model.safetensors", 6, 1<<16, 7)
	upload(t, srv, "inputs", "m/model.safetensors", st)
	gguf := filepath.Join(testtool.RepoRoot(), "testdata", "models", "llm", "llama-f16.gguf")
	upload(t, srv, "inputs", "llm/llama-f16.gguf", gguf)
	// 20 MB: a PendingFile output of three upload parts, streamed as it is written.
	st20 := safetensorsFile(t, dir, "model20.safetensors", 5, 1<<20, 9)
	upload(t, srv, "inputs", "m/model20.safetensors", st20)
	mlp := filepath.Join(testtool.RepoRoot(), "testdata", "models", "quant", "digits_mlp.onnx")
	upload(t, srv, "inputs", "onnx/digits_mlp.onnx", mlp)
	// A Hugging Face folder (written back from the GGUF), read as a prefix: listed,
	// config.json, tokenizer and weights.
	hfDir := filepath.Join(dir, "hf")
	mustRun(t, nil, "convert", gguf, hfDir, "--to", "safetensors")
	hfFiles, err := os.ReadDir(hfDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range hfFiles {
		upload(t, srv, "inputs", "hf/"+f.Name(), filepath.Join(hfDir, f.Name()))
	}

	cases := []struct {
		name        string
		local       []string // the command; OUT stands for the output, inputs become s3://
		outLocal    string
		outKey      string
		folderFiles []string
	}{
		{"safetensors to gguf", []string{"convert", st, "OUT"}, "model.gguf", "a/model.gguf", nil},
		{"safetensors to bf16 safetensors", []string{"convert", "--dtype", "bf16", st, "OUT"}, "bf16.safetensors", "b/bf16.safetensors", nil},
		{"gguf quantize q8_0", []string{"quantize", "--type", "Q8_0", gguf, "OUT"}, "q8.gguf", "c/q8.gguf", nil},
		{"onnx quantize dynamic", []string{"quantize", "--method", "dynamic", mlp, "OUT"}, "q.onnx", "e/q.onnx", nil},
		{"prune safetensors", []string{"prune", st, "OUT"}, "pruned.safetensors", "f/pruned.safetensors", nil},
		{"hf folder to gguf", []string{"convert", hfDir, "OUT"}, "hf.gguf", "h/hf.gguf", nil},
		{"hf folder quantize q8_0", []string{"quantize", "--type", "Q8_0", hfDir, "OUT"}, "hfq8.gguf", "h/hfq8.gguf", nil},
		{"prune 20 MB safetensors", []string{"prune", st20, "OUT"}, "pruned20.safetensors", "f/pruned20.safetensors", nil},
		{"prune onnx to zstd", []string{"prune", mlp, "OUT"}, "pruned.onnx.zst", "g/pruned.onnx.zst", nil},
		{"sharded output", []string{"convert", "--shard-size", "600KB", st, "OUT"}, "sharded", "d/sharded", []string{
			"model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors", "model-00003-of-00003.safetensors", "model.safetensors.index.json"}},
	}
	remoteIn := map[string]string{st: "s3://inputs/m/model.safetensors", gguf: "s3://inputs/llm/llama-f16.gguf", mlp: "s3://inputs/onnx/digits_mlp.onnx", st20: "s3://inputs/m/model20.safetensors", hfDir: "s3://inputs/hf/"}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			localOut := filepath.Join(t.TempDir(), c.outLocal)
			var la, ra []string
			for _, a := range c.local {
				switch {
				case a == "OUT":
					la, ra = append(la, localOut), append(ra, "s3://outputs/"+c.outKey)
				case remoteIn[a] != "":
					la, ra = append(la, a), append(ra, remoteIn[a])
				default:
					la, ra = append(la, a), append(ra, a)
				}
			}
			mustRun(t, nil, la...)
			mustRun(t, srv.Env(), ra...)
			if c.folderFiles == nil {
				want, err := os.ReadFile(localOut)
				if err != nil {
					t.Fatal(err)
				}
				if got := download(t, srv, "outputs", c.outKey); !bytes.Equal(got, want) {
					t.Fatalf("s3://outputs/%s: %d bytes, differs from the local output (%d bytes)", c.outKey, len(got), len(want))
				}
				return
			}
			var wantKeys []string
			for _, f := range c.folderFiles {
				wantKeys = append(wantKeys, c.outKey+"/"+f)
				want, err := os.ReadFile(filepath.Join(localOut, f))
				if err != nil {
					t.Fatal(err)
				}
				if got := download(t, srv, "outputs", c.outKey+"/"+f); !bytes.Equal(got, want) {
					t.Fatalf("s3://outputs/%s/%s differs from the local output", c.outKey, f)
				}
			}
			if got := keys(t, srv, "outputs", c.outKey+"/"); strings.Join(got, ",") != strings.Join(wantKeys, ",") {
				t.Fatalf("objects %v, want %v", got, wantKeys)
			}
		})
	}
	if left := incomplete(t, srv, "outputs"); len(left) > 0 {
		t.Errorf("multipart uploads left: %v", left)
	}
}

// TestConvertS3MemoryBound converts checkpoints of 96 MB and 192 MB (16 MB tensors)
// S3 -> S3 and locally: the S3 run's peak resident memory grows with the model no more
// than the local run's does (re-reading the written file for verification maps its
// pages in both), and stays within a constant (upload parts, read-ahead) of it.
func TestConvertS3MemoryBound(t *testing.T) {
	srv := needServer(t, "inputs", "outputs")
	if _, err := os.Stat("/usr/bin/time"); err != nil {
		testtool.Missing(t, "GNU time (Debian package time)", err)
	}
	dir := t.TempDir()
	remote, local := map[int]int64{}, map[int]int64{}
	for _, n := range []int{6, 12} {
		name := fmt.Sprintf("m%d.safetensors", n)
		st := safetensorsFile(t, dir, name, n, 1<<22, 3) // n x 16 MB
		upload(t, srv, "inputs", "mem/"+name, st)
		out := fmt.Sprintf("mem/m%d.gguf", n)
		remote[n] = mustRun(t, srv.Env(), "convert", "s3://inputs/mem/"+name, "s3://outputs/"+out).maxRSSKiB >> 10
		localOut := filepath.Join(dir, fmt.Sprintf("m%d.gguf", n))
		local[n] = mustRun(t, nil, "convert", st, localOut).maxRSSKiB >> 10
		want, err := os.ReadFile(localOut)
		if err != nil {
			t.Fatal(err)
		}
		if got := download(t, srv, "outputs", out); !bytes.Equal(got, want) {
			t.Fatalf("S3 output %s differs from the local one", out)
		}
		os.Remove(st)
		os.Remove(localOut)
	}
	t.Logf("peak RSS converting safetensors -> GGUF: 96 MB model S3 -> S3 %d MiB, local %d MiB; 192 MB model S3 -> S3 %d MiB, local %d MiB",
		remote[6], local[6], remote[12], local[12])
	// 40 MiB of slack for the garbage collector's timing, against 96 MB more model.
	if remote[12]-remote[6] > local[12]-local[6]+40 {
		t.Errorf("S3 -> S3 peak RSS grows by %d MiB from 96 to 192 MB, the local run's by %d MiB", remote[12]-remote[6], local[12]-local[6])
	}
	if remote[12] > local[12]+96 {
		t.Errorf("S3 -> S3 peak RSS %d MiB, more than the local run's %d MiB + 96 MiB", remote[12], local[12])
	}
}

// TestFaults: refused credentials, a missing bucket or key give a clear error, a
// non-zero exit and no object.
func TestFaults(t *testing.T) {
	srv := needServer(t, "inputs", "faults")
	dir := t.TempDir()
	st := safetensorsFile(t, dir, "model.safetensors", 2, 1<<12, 1)
	upload(t, srv, "inputs", "f/model.safetensors", st)
	upload(t, srv, "inputs", "f/exists.gguf", st)
	badEnv := append(srv.Env(), "AWS_SECRET_ACCESS_KEY=wrong-secret-key-0123456789")
	anon := append(srv.Env(), "AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY=", "AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(dir, "none"))
	cases := []struct {
		name string
		env  []string
		args []string
		want string // in stderr
	}{
		{"bad secret inspect", badEnv, []string{"inspect", "s3://inputs/f/model.safetensors"}, "access denied"},
		{"bad secret convert", badEnv, []string{"convert", "s3://inputs/f/model.safetensors", "s3://faults/bad.gguf"}, "access denied"},
		{"anonymous", anon, []string{"inspect", "s3://inputs/f/model.safetensors"}, "access denied"},
		{"missing bucket input", srv.Env(), []string{"inspect", "s3://no-such-bucket/model.safetensors"}, "does not exist"},
		{"missing bucket output", srv.Env(), []string{"convert", "s3://inputs/f/model.safetensors", "s3://no-such-bucket/out.gguf"}, "does not exist"},
		{"missing key", srv.Env(), []string{"inspect", "s3://inputs/f/nope.safetensors"}, "not exist"},
		{"output exists", srv.Env(), []string{"convert", "s3://inputs/f/model.safetensors", "s3://inputs/f/exists.gguf"}, "exists"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := refit(t, c.env, c.args...)
			if r.code == 0 || !strings.Contains(strings.ToLower(r.stderr), c.want) {
				t.Fatalf("want a non-zero exit and %q in stderr; got %v", c.want, r)
			}
			if strings.Contains(r.stderr, "panic") || strings.Contains(r.stderr, "goroutine ") {
				t.Fatalf("crashed: %v", r)
			}
		})
	}
	if got := keys(t, srv, "faults", ""); len(got) > 0 {
		t.Errorf("objects committed by failed runs: %v", got)
	}
}

// dropProxy forwards TCP connections to a server until the bytes sent back reach a
// limit; then it closes every connection and refuses new ones, as a server that stops
// mid-read would.
type dropProxy struct {
	ln      net.Listener
	target  string
	limit   int64
	sent    atomic.Int64
	dropped atomic.Bool
	onDrop  func() // run once when the limit is reached, before connections close
	blip    bool   // drop only the connection that crossed the limit, and keep forwarding (a dropped connection, not a dead server)
	once    sync.Once
	mu      sync.Mutex
	conns   []net.Conn
}

func newDropProxy(t *testing.T, target string, limit int64) *dropProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &dropProxy{ln: ln, target: target, limit: limit}
	t.Cleanup(func() { ln.Close(); p.drop() })
	go p.serve()
	return p
}

func (p *dropProxy) drop() {
	p.once.Do(func() {
		if p.onDrop != nil {
			p.onDrop()
		}
	})
	p.dropped.Store(true)
	if !p.blip {
		p.ln.Close()
	}
	p.mu.Lock()
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
}

func (p *dropProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil || (p.dropped.Load() && !p.blip) {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, s)
		p.mu.Unlock()
		go io.Copy(s, c)
		go func() {
			buf := make([]byte, 32<<10)
			for {
				n, err := s.Read(buf)
				if n > 0 {
					if p.sent.Add(int64(n)) > p.limit && !p.dropped.Load() {
						if p.blip {
							p.dropped.Store(true)
							c.Close()
							s.Close()
						} else {
							p.drop()
						}
						return
					}
					if _, werr := c.Write(buf[:n]); werr != nil {
						return
					}
				}
				if err != nil {
					c.Close()
					return
				}
			}
		}()
	}
}

// TestDroppedConnectionResumed: the connection a convert from S3 reads its input on
// drops mid-response (after 12 MB of responses), and new ones go through: the broken
// range is asked for again from where it stopped, and the output is the same bytes as
// a local run's. The output is local, so that only reads pass through the proxy (an
// upload part cut or slowed by it is the server's retry, not Refit's resume).
// TestServerStopped covers a server that stays down.
func TestDroppedConnectionResumed(t *testing.T) {
	srv := needServer(t, "inputs")
	dir := t.TempDir()
	st := safetensorsFile(t, dir, "model.safetensors", 8, 1<<20, 5) // 8 x 4 MB
	upload(t, srv, "inputs", "mid/model.safetensors", st)
	proxy := newDropProxy(t, strings.TrimPrefix(srv.Endpoint, "http://"), 12<<20)
	proxy.blip = true
	env := append(srv.Env(), "AWS_ENDPOINT_URL=http://"+proxy.ln.Addr().String())
	resumed := filepath.Join(dir, "resumed.gguf")
	mustRun(t, env, "convert", "--force", "s3://inputs/mid/model.safetensors", resumed)
	if !proxy.dropped.Load() {
		t.Fatalf("the connections were not dropped (%d bytes through the proxy)", proxy.sent.Load())
	}
	local := filepath.Join(dir, "out.gguf")
	mustRun(t, nil, "convert", "--force", st, local)
	want, err := os.ReadFile(local)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(resumed)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("output after a dropped connection differs from the local one")
	}
}

// TestServerStopped: the server process is killed (SIGKILL) while refit reads from it,
// after 6 MB of responses, and, once stopped, a new run fails at its first request.
func TestServerStopped(t *testing.T) {
	if server == nil {
		testtool.SkipWithoutSeaweedFS(t, startErr)
	}
	own := testtool.StartS3(t)
	own.MakeBucket(t, "inputs")
	dir := t.TempDir()
	st := safetensorsFile(t, dir, "model.safetensors", 8, 1<<20, 2) // 8 x 4 MB
	upload(t, own, "inputs", "m/model.safetensors", st)
	proxy := newDropProxy(t, strings.TrimPrefix(own.Endpoint, "http://"), 6<<20)
	proxy.onDrop = own.Stop
	env := append(own.Env(), "AWS_ENDPOINT_URL=http://"+proxy.ln.Addr().String())
	out := filepath.Join(dir, "out.gguf")
	r := refit(t, env, "convert", "s3://inputs/m/model.safetensors", out)
	if r.code == 0 || !proxy.dropped.Load() || !strings.Contains(r.stderr, "s3://inputs/m/model.safetensors") {
		t.Fatalf("want a failure naming the input after the server stopped (stopped: %v); got %v", proxy.dropped.Load(), r)
	}
	t.Logf("error: %s", strings.TrimSpace(r.stderr))
	if _, err := os.Stat(out); err == nil {
		t.Errorf("output written although the input could not be read")
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".refit-tmp-*")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
	r = refit(t, own.Env(), "inspect", "s3://inputs/m/model.safetensors")
	if r.code == 0 || strings.Contains(r.stderr, "panic") {
		t.Fatalf("want a clean failure from a stopped server; got %v", r)
	}
}

// TestInterruptedUpload: SIGINT while a convert S3 -> S3 is uploading its output
// (its multipart upload is seen in the bucket) exits 130 with no object committed and
// the upload aborted.
func TestInterruptedUpload(t *testing.T) {
	srv := needServer(t, "inputs", "interrupted")
	dir := t.TempDir()
	st := safetensorsFile(t, dir, "model.safetensors", 12, 1<<22, 4) // 12 x 16 MB
	upload(t, srv, "inputs", "int/model.safetensors", st)
	cmd := exec.Command(refitBin, "convert", "s3://inputs/int/model.safetensors", "s3://interrupted/out.gguf")
	cmd.Env = append(os.Environ(), srv.Env()...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.Now().Add(2 * time.Minute)
	for len(incomplete(t, srv, "interrupted")) == 0 {
		select {
		case err := <-done:
			t.Fatalf("convert finished (%v) before its upload was seen; stderr: %s", err, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("no multipart upload seen within 2 minutes")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Signal(os.Interrupt)
	<-done
	if code := cmd.ProcessState.ExitCode(); code != 130 {
		t.Fatalf("exit %d after SIGINT, want 130; stderr: %s", code, stderr.String())
	}
	if got := keys(t, srv, "interrupted", ""); len(got) > 0 {
		t.Errorf("objects committed: %v", got)
	}
	if left := incomplete(t, srv, "interrupted"); len(left) > 0 {
		t.Errorf("multipart uploads left: %v", left)
	}
}
