package gguf

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"testing"
)

// The JSON manifests written by testdata/gen/gguf_ggml.py describe values exactly:
// floats as IEEE bit patterns, strings as hex, bools as 0/1.

type manifestKV struct {
	Key     string          `json:"key"`
	Type    ValueType       `json:"type"`
	ArrType ValueType       `json:"arr_type"`
	Value   json.RawMessage `json:"value"`
}

type manifestTensor struct {
	Name   string   `json:"name"`
	Type   GGMLType `json:"type"`
	Ne     []int64  `json:"ne"`
	Data   string   `json:"data"`   // hex, in files written by the script
	Offset *uint64  `json:"offset"` // in files read by ggml
	Size   *int64   `json:"size"`
}

type manifestFile struct {
	Version    uint32           `json:"version"`
	Alignment  int64            `json:"alignment"`
	DataOffset int64            `json:"data_offset"`
	KVs        []manifestKV     `json:"kvs"`
	Tensors    []manifestTensor `json:"tensors"`
}

// manifestStrings is a manifest value as strings: one per array element, or one for a scalar.
func manifestStrings(t *testing.T, raw json.RawMessage) []string {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatal(err)
	}
	one := func(x any) string {
		switch x := x.(type) {
		case json.Number:
			return x.String()
		case string:
			return x
		}
		t.Fatalf("unexpected manifest value %T", x)
		return ""
	}
	if a, ok := v.([]any); ok {
		out := make([]string, len(a))
		for i, x := range a {
			out[i] = one(x)
		}
		return out
	}
	return []string{one(v)}
}

// valueStrings renders a Go metadata value the way manifests do.
func valueStrings(v any) []string {
	switch x := v.(type) {
	case float32:
		return []string{fmt.Sprint(math.Float32bits(x))}
	case float64:
		return []string{fmt.Sprint(math.Float64bits(x))}
	case string:
		return []string{hex.EncodeToString([]byte(x))}
	case bool:
		if x {
			return []string{"1"}
		}
		return []string{"0"}
	case []float32:
		return mapStrings(x)
	case []float64:
		return mapStrings(x)
	case []string:
		return mapStrings(x)
	case []bool:
		return mapStrings(x)
	case []uint8:
		return mapStrings(x)
	case []int8:
		return mapStrings(x)
	case []uint16:
		return mapStrings(x)
	case []int16:
		return mapStrings(x)
	case []uint32:
		return mapStrings(x)
	case []int32:
		return mapStrings(x)
	case []uint64:
		return mapStrings(x)
	case []int64:
		return mapStrings(x)
	}
	return []string{fmt.Sprint(v)}
}

func mapStrings[T any](s []T) []string {
	out := []string{}
	for _, e := range s {
		out = append(out, valueStrings(any(e))...)
	}
	return out
}

// checkKVs compares parsed KVs with a manifest's, in order, with exact types and values.
func checkKVs(t *testing.T, got []KV, want []manifestKV) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d KVs, want %d", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		typ, elem, err := typeOf(g.Value)
		if err != nil {
			t.Fatalf("KV %q: %v", g.Key, err)
		}
		if g.Key != w.Key || typ != w.Type || (typ == TypeArray && elem != w.ArrType) {
			t.Errorf("KV %d = %q %v[%v], want %q %v[%v]", i, g.Key, typ, elem, w.Key, w.Type, w.ArrType)
			continue
		}
		if gs, ws := valueStrings(g.Value), manifestStrings(t, w.Value); !slices.Equal(gs, ws) {
			t.Errorf("KV %q = %v, want %v", g.Key, gs, ws)
		}
	}
}
