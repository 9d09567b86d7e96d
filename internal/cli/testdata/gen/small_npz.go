//go:build ignore

// small_npz writes, base64-encoded on stdout, the data file embedded in
// ../script/distill.txtar: a deflated .npz whose "input" is float32 [2, 1, 14, 14]
// (half an MNIST digit: the wrong shape for the MNIST models) with int64 labels.
//
//	go run internal/cli/testdata/gen/small_npz.go
package main

import (
	"archive/zip"
	"bytes"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/refit-ml/refit/format/numpy"
	"github.com/refit-ml/refit/tensor"
)

func main() {
	x, err := tensor.NewF32("input", tensor.Shape{2, 1, 14, 14}, make([]float32, 2*14*14))
	if err != nil {
		panic(err)
	}
	lab, err := tensor.FromBytes("label", tensor.I64, tensor.Shape{2}, []byte{3, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0})
	if err != nil {
		panic(err)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, t := range []*tensor.Tensor{x, lab} {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: t.Name + ".npy", Method: zip.Deflate, Modified: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)})
		if err != nil {
			panic(err)
		}
		if err := numpy.EncodeNPY(w, t); err != nil {
			panic(err)
		}
	}
	if err := zw.Close(); err != nil {
		panic(err)
	}
	enc := base64.StdEncoding.EncodeToString(buf.Bytes())
	for len(enc) > 76 {
		fmt.Println(enc[:76])
		enc = enc[76:]
	}
	fmt.Println(enc)
}
