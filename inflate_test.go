package refit

import (
	"bytes"
	"compress/flate"
	"errors"
	"io"
	"testing"
)

func deflated(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.BestCompression)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func TestLimitInflated(t *testing.T) {
	data := make([]byte, 100000)
	comp := deflated(t, data)
	for _, tc := range []struct {
		declared int64
		want     error
	}{
		{100000, nil},
		{99999, ErrFormat},            // inflates past the declared size
		{100001, io.ErrUnexpectedEOF}, // ends short
	} {
		r := LimitInflated("test", "m", flate.NewReader(bytes.NewReader(comp)), tc.declared)
		got, err := io.ReadAll(r)
		if !errors.Is(err, tc.want) || (tc.want == nil && !bytes.Equal(got, data)) {
			t.Errorf("declared %d: ReadAll = %d bytes, %v, want %v", tc.declared, len(got), err, tc.want)
		}
		if int64(len(got)) > tc.declared {
			t.Errorf("declared %d: read %d bytes", tc.declared, len(got))
		}
	}
}

func TestCheckInflateRatio(t *testing.T) {
	if err := CheckInflateRatio("test", "m", 1000, 1000*MaxInflateRatio); err != nil {
		t.Errorf("a reachable ratio: %v", err)
	}
	if err := CheckInflateRatio("test", "m", 1000, 2000*MaxInflateRatio); !errors.Is(err, ErrFormat) {
		t.Errorf("an impossible ratio: %v, want ErrFormat", err)
	}
	if err := CheckInflateRatio("test", "m", 0, InflateSlack); err != nil {
		t.Errorf("a tiny member: %v", err)
	}
}
