package runtime

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/refit-ml/refit/format/onnx/onnxpb"
)

// FuzzLoadRun decodes a model, loads it and runs it on random inputs: whatever the
// bytes, Load and Run must return (an error is fine) without panicking, and without
// allocating beyond the session's MaxElements.
func FuzzLoadRun(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "models", "*.onnx"))
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		mp := &onnxpb.ModelProto{}
		if proto.Unmarshal(b, mp) != nil {
			return
		}
		s, err := Load(mp, nil, &Options{MaxElements: 1 << 16})
		if err != nil {
			return
		}
		in, err := RandomInputs(s, 1, &RandomOptions{DefaultDim: 2})
		if err != nil {
			return
		}
		for _, v := range in {
			if v.Len() > 1<<16 {
				return
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, _ = s.Run(ctx, in)
	})
}
