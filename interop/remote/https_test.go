package remote_test

import (
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestInspectHTTPS runs refit inspect on a GGUF file served over https with Range
// support, and on a server that ignores Range.
func TestInspectHTTPS(t *testing.T) {
	gguf := filepath.Join("..", "..", "testdata", "models", "llm", "llama-f16.gguf")
	data, err := os.ReadFile(gguf)
	if err != nil {
		t.Fatal(err)
	}
	var requests atomic.Int64
	var unranged atomic.Bool
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		if unranged.Load() {
			w.Write(data)
			return
		}
		http.ServeContent(w, r, "model.gguf", time.Time{}, strings.NewReader(string(data)))
	}))
	defer srv.Close()
	certFile := filepath.Join(t.TempDir(), "cert.pem")
	cert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(certFile, cert, 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"SSL_CERT_FILE=" + certFile, "SSL_CERT_DIR=" + t.TempDir()}

	local := mustRun(t, nil, "inspect", "--json", gguf)
	r := mustRun(t, env, "inspect", "--json", srv.URL+"/m/model.gguf")
	var want, got inspectJSON
	if err := json.Unmarshal([]byte(local.stdout), &want); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("inspect --json: %v\n%s", err, r.stdout)
	}
	if got.Format != want.Format || len(got.Tensors) != len(want.Tensors) || got.Bytes != want.Bytes || got.Remote == nil {
		t.Fatalf("https inspect: %s, %d tensors, %d bytes, remote %v; local: %s, %d tensors, %d bytes",
			got.Format, len(got.Tensors), got.Bytes, got.Remote, want.Format, len(want.Tensors), want.Bytes)
	}
	t.Logf("inspect https (%d-byte GGUF): %d requests, %d bytes", len(data), got.Remote.Requests, got.Remote.BytesRead)
	if got.Remote.Requests != requests.Load() || got.Remote.Requests > 3 {
		t.Errorf("refit counted %d requests, the server %d; want at most 3", got.Remote.Requests, requests.Load())
	}

	// Converting reads tensor data: the output matches the local conversion.
	dir := t.TempDir()
	mustRun(t, nil, "convert", gguf, filepath.Join(dir, "local.safetensors"))
	mustRun(t, env, "convert", srv.URL+"/m/model.gguf", filepath.Join(dir, "remote.safetensors"))
	a, _ := os.ReadFile(filepath.Join(dir, "local.safetensors"))
	b, _ := os.ReadFile(filepath.Join(dir, "remote.safetensors"))
	if len(a) == 0 || string(a) != string(b) {
		t.Fatalf("convert over https differs from the local conversion (%d vs %d bytes)", len(b), len(a))
	}

	// scan reads what it needs of a remote file too.
	scanLocal := refit(t, nil, "scan", "--json", gguf)
	scanRemote := refit(t, env, "scan", "--json", srv.URL+"/m/model.gguf")
	if scanRemote.code != scanLocal.code || !strings.Contains(scanRemote.stdout, `"level"`) {
		t.Fatalf("scan over https: %v\nlocal: %v", scanRemote, scanLocal)
	}

	unranged.Store(true)
	bad := refit(t, env, "inspect", srv.URL+"/m/model.gguf")
	if bad.code == 0 || !strings.Contains(bad.stderr, "Range") {
		t.Fatalf("a server ignoring Range: want a non-zero exit naming Range requests; got %v", bad)
	}
	// Writing to a web server is refused before any work.
	out := refit(t, env, "convert", gguf, srv.URL+"/out.safetensors")
	if out.code == 0 || !strings.Contains(out.stderr, "cannot write to a web server") {
		t.Fatalf("https output: want a refusal; got %v", out)
	}
}
