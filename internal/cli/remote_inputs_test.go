package cli

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// eval, run, tokenize and diff read their inputs from https:// (and s3://) URLs as
// convert and inspect do, with ranged requests: the same results as from local paths.
func TestRemoteInputs(t *testing.T) {
	repo := filepath.Join("..", "..")
	// http.FileServer answers Range requests; a pre-signed query string is ignored.
	srv := httptest.NewServer(http.FileServer(http.Dir(repo)))
	defer srv.Close()
	url := func(rel string) string { return srv.URL + "/" + rel + "?X-Amz-Signature=SIG" }
	local := func(rel string) string { return filepath.Join(repo, filepath.FromSlash(rel)) }
	const (
		llama = "testdata/models/llm/llama-f16.gguf"
		text  = "testdata/llm/eval.txt"
		mnist = "testdata/models/mnist/mnist_cnn.onnx"
		data  = "testdata/models/mnist/test.npz"
	)
	for _, tc := range []struct {
		name          string
		local, remote []string
	}{
		{"eval", []string{"eval", local(llama), "--text", local(text), "--ctx", "64", "--chunks", "1", "--json"},
			[]string{"eval", url(llama), "--text", url(text), "--ctx", "64", "--chunks", "1", "--json"}},
		{"tokenize", []string{"tokenize", "--ids", local(llama), "Hello, world"},
			[]string{"tokenize", "--ids", url(llama), "Hello, world"}},
		{"run", []string{"run", local(mnist), "--json"}, []string{"run", url(mnist), "--json"}},
		{"diff", []string{"diff", local(mnist), local(mnist), "--json"}, []string{"diff", url(mnist), url(mnist), "--json"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var want, got, errOut bytes.Buffer
			if code := Main(context.Background(), tc.local, strings.NewReader(""), &want, &errOut); code != ExitOK {
				t.Fatalf("local: exit %d\n%s", code, errOut.String())
			}
			if code := Main(context.Background(), tc.remote, strings.NewReader(""), &got, &errOut); code != ExitOK {
				t.Fatalf("remote: exit %d\n%s", code, errOut.String())
			}
			norm := func(s string) string {
				s = strings.ReplaceAll(s, srv.URL+"/", "")
				s = strings.ReplaceAll(s, "?REDACTED", "")
				s = strings.ReplaceAll(s, filepath.ToSlash(repo)+"/", "")
				return timeField.ReplaceAllString(s, "")
			}
			if norm(got.String()) != norm(want.String()) {
				t.Errorf("remote output differs from local:\n%s\nlocal:\n%s", got.String(), want.String())
			}
		})
	}
}

// timeField matches what differs between two runs of one command: timings.
var timeField = regexp.MustCompile(`"[a-z_]*(seconds|_ms)": [0-9.e+-]+,?`)
