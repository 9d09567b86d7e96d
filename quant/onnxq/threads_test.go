package onnxq

import (
	"bytes"
	"context"
	"testing"

	"google.golang.org/protobuf/proto"
)

// TestThreadsDoNotChangeOutput quantizes the MNIST CNN with calibration (static
// ranges, the GPTQ search) at one and three threads: the models must be the
// same bytes.
func TestThreadsDoNotChangeOutput(t *testing.T) {
	mp, data, _ := loadMNIST(t)
	calib, _, err := Split(data, 64)
	if err != nil {
		t.Fatal(err)
	}
	feed, err := Batches(calib, 32)
	if err != nil {
		t.Fatal(err)
	}
	methods := []Options{
		{Method: Static, PerChannel: true},
		{Method: WeightOnly, GroupSize: 32, Algo: GPTQ},
	}
	if testing.Short() {
		methods = methods[:1]
	}
	marshal := proto.MarshalOptions{Deterministic: true}
	for _, o := range methods {
		var want []byte
		for _, threads := range []int{1, 3} {
			o.Threads = threads
			q, _, err := Quantize(context.Background(), mp, &o, feed)
			if err != nil {
				t.Fatal(err)
			}
			got, err := marshal.Marshal(q)
			if err != nil {
				t.Fatal(err)
			}
			if want == nil {
				want = got
			} else if !bytes.Equal(got, want) {
				t.Errorf("%v/%v: the model quantized with %d threads differs from 1 thread", o.Method, o.Algo, threads)
			}
		}
	}
}
