package keras2onnx

import (
	"strings"
	"testing"
)

// A masked step inside Bidirectional(return_sequences) outputs zeros in both halves
// (Keras forces zero_output_for_mask there), while a plain RNN repeats its last
// output; states carry over the masked step either way. With SimpleRNN(1), linear,
// kernel = recurrent kernel = 1, h_t = x_t + h_{t-1}; the input is [1, masked, 2].
func TestMaskedRNNHandComputed(t *testing.T) {
	const config = `{"class_name": "Functional", "config": {"name": "m", "layers": [
	 {"class_name": "InputLayer", "name": "x", "config": {"batch_input_shape": [null, 3, 1]}, "inbound_nodes": []},
	 {"class_name": "Masking", "name": "mask", "config": {"mask_value": -1}, "inbound_nodes": [[["x", 0, 0, {}]]]},
	 {"class_name": "Bidirectional", "name": "bi", "config": {"merge_mode": "concat", "layer": {"class_name": "SimpleRNN",
	   "config": {"name": "rnn", "units": 1, "activation": "linear", "use_bias": false, "return_sequences": true}}},
	  "inbound_nodes": [[["mask", 0, 0, {}]]]},
	 {"class_name": "SimpleRNN", "name": "plain", "config": {"units": 1, "activation": "linear", "use_bias": false, "return_sequences": true},
	  "inbound_nodes": [[["mask", 0, 0, {}]]]},
	 {"class_name": "Concatenate", "name": "out", "config": {"axis": -1}, "inbound_nodes": [[["bi", 0, 0, {}], ["plain", 0, 0, {}]]]}],
	 "input_layers": [["x", 0, 0]], "output_layers": [["out", 0, 0]]}}`
	ones := []float32{1}
	shape := []int64{1, 1}
	names := []string{"bi/forward_rnn/kernel", "bi/forward_rnn/recurrent_kernel", "bi/backward_rnn/kernel",
		"bi/backward_rnn/recurrent_kernel", "plain/kernel", "plain/recurrent_kernel"}
	ts, shapes := map[string][]float32{}, map[string][]int64{}
	for _, n := range names {
		ts[n], shapes[n] = ones, shape
	}
	mp, err := Convert([]byte(config), weights(t, ts, shapes), nil)
	if err != nil {
		t.Fatal(err)
	}
	// The second sequence is masked throughout: zero outputs, no failure.
	got, _ := run(t, mp, []float32{1, -1, 2, -1, -1, -1}, 2, 3, 1)
	// [forward, backward (time-aligned), plain] per step.
	want := []float32{1, 3, 1, 0, 0, 1, 3, 2, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	if !near(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

// The nested fixture calls inner_fn twice: its weights are stored once.
func TestSharedNestedWeightsOnce(t *testing.T) {
	mp, _, _ := runFixture(t, "testdata/tfjs/nested")
	n := 0
	for _, init := range mp.Graph.Initializer {
		if strings.HasPrefix(init.GetName(), "d3_kernel") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d initializers for d3's kernel, want 1", n)
	}
}

// GlobalAveragePooling1D after Masking averages the unmasked steps only:
// [[1, 2], masked, [3, 6]] -> [2, 4].
func TestMaskedGlobalAverage(t *testing.T) {
	const config = `{"class_name": "Sequential", "config": {"name": "m", "layers": [
	 {"class_name": "Masking", "config": {"name": "mask", "mask_value": 0, "batch_input_shape": [null, 3, 2]}},
	 {"class_name": "GlobalAveragePooling1D", "config": {"name": "avg"}}]}}`
	mp, err := Convert([]byte(config), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := run(t, mp, []float32{1, 2, 0, 0, 3, 6}, 1, 3, 2)
	if want := []float32{2, 4}; !near(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}
