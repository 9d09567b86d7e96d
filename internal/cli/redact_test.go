package cli

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A pre-signed URL's query string (its signature) and a URL's password never appear in
// what refit prints: inspect's text and JSON, and errors.
func TestRemotePathsRedacted(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "models", "llm", "llama-f16.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "denied") {
			http.Error(w, "signature expired", http.StatusForbidden)
			return
		}
		http.ServeContent(w, r, "model.gguf", time.Time{}, bytes.NewReader(data))
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	const secret = "SECRETSIG"
	signed := srv.URL + "/m/model.gguf?X-Amz-Credential=AKIA%2F" + secret + "&X-Amz-Signature=" + secret
	for _, tc := range []struct {
		name string
		args []string
		ok   bool
	}{
		{"inspect", []string{"inspect", signed}, true},
		{"inspect --json", []string{"inspect", "--json", signed}, true},
		{"password", []string{"inspect", "http://user:" + secret + "@" + host + "/m/model.gguf"}, true},
		{"HTTP 403", []string{"inspect", srv.URL + "/denied/model.gguf?sig=" + secret}, false},
		{"bad URL", []string{"inspect", "http://user:" + secret + "@" + host + "/%zz?sig=" + secret}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := Main(context.Background(), tc.args, strings.NewReader(""), &stdout, &stderr)
			if (code == ExitOK) != tc.ok {
				t.Fatalf("exit %d, want success %v\nstdout: %s\nstderr: %s", code, tc.ok, stdout.String(), stderr.String())
			}
			if out := stdout.String() + stderr.String(); strings.Contains(out, secret) {
				t.Errorf("output holds the secret:\n%s", out)
			}
			if tc.ok && !strings.Contains(stdout.String(), host+"/m/model.gguf") {
				t.Errorf("output does not name the model:\n%s", stdout.String())
			}
		})
	}
}
