package refit

import (
	"strings"
	"testing"
)

func TestShowPath(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"model.onnx", "model.onnx"},
		{"dir/a?b.onnx", "dir/a?b.onnx"}, // a local name keeps its '?'
		{"https://host/m.onnx", "https://host/m.onnx"},
		{"s3://b/模型 v1.gguf", "s3://b/模型 v1.gguf"}, // nothing to redact: as given
		{"https://host/m.onnx?X-Amz-Signature=abc&X-Amz-Credential=KEY", "https://host/m.onnx?REDACTED"},
		{"https://user:secret@host:8443/a/m.gguf", "https://host:8443/a/m.gguf"},
		{"HTTP://user@host/m#frag", "http://host/m?REDACTED"},
		{"s3://bucket/key.safetensors?versionId=1", "s3://bucket/key.safetensors?REDACTED"},
		{"https://us er:p@ss@host/%zz?sig=1", "https://host/%zz?REDACTED"}, // does not parse
	} {
		if got := ShowPath(tc.in); got != tc.want {
			t.Errorf("ShowPath(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestRedactURLs(t *testing.T) {
	in := `refit: open https://u:pw@h/m.onnx?sig=SECRET: HTTP 403; "s3://b/k?token=SECRET2" and https://h/plain`
	got := RedactURLs(in)
	for _, leak := range []string{"SECRET", "pw@", "u:"} {
		if strings.Contains(got, leak) {
			t.Errorf("RedactURLs left %q in %q", leak, got)
		}
	}
	for _, keep := range []string{"https://h/m.onnx?REDACTED:", `"s3://b/k?REDACTED"`, "https://h/plain", "HTTP 403"} {
		if !strings.Contains(got, keep) {
			t.Errorf("RedactURLs(%q) = %q, want it to hold %q", in, got, keep)
		}
	}
}
