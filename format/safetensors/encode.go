package safetensors

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/tensor"
)

// EncodeOptions are the encoder's choices; the zero value (or nil) means defaults.
type EncodeOptions struct {
	// StringMetadataOnly drops non-string metadata values. By default scalar values
	// (bools, integers, floats) are stringified (strconv formatting, shortest floats);
	// lists and nested values are always dropped, as __metadata__ maps strings to strings.
	StringMetadataOnly bool
}

// plan is a validated layout: tensors in output order, the padded header bytes.
type plan struct {
	tensors []*tensor.Tensor
	header  []byte
	total   int64 // byte buffer size
}

// Encode writes m as one safetensors file. Output is deterministic and matches the
// reference implementation byte for byte: tensors ordered by decreasing dtype alignment,
// then by name; compact JSON with "__metadata__" (keys sorted) first and each tensor's
// keys as dtype, shape, data_offsets; the header padded with spaces to a multiple of 8.
// Offsets are computed from the tensors' sizes first, then tensors are streamed one at
// a time. Types safetensors cannot hold (block-quantized, C128) give an error wrapping
// refit.ErrUnsupported. Nothing is written when the model is rejected.
func Encode(w io.Writer, m *refit.Model, opts *EncodeOptions) error {
	if opts == nil {
		opts = &EncodeOptions{}
	}
	p, err := layout(m, opts)
	if err != nil {
		return err
	}
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(p.header)))
	if _, err := w.Write(n[:]); err != nil {
		return err
	}
	if _, err := w.Write(p.header); err != nil {
		return err
	}
	for _, t := range p.tensors {
		got, err := t.WriteTo(w)
		if err != nil {
			return fmt.Errorf("safetensors: writing tensor %q: %w", t.Name, err)
		}
		if got != t.Size() {
			return fmt.Errorf("safetensors: tensor %q wrote %d bytes, want %d", t.Name, got, t.Size())
		}
	}
	return nil
}

// EncodedSize returns the size of the file Encode would write.
func EncodedSize(m *refit.Model, opts *EncodeOptions) (int64, error) {
	if opts == nil {
		opts = &EncodeOptions{}
	}
	p, err := layout(m, opts)
	if err != nil {
		return 0, err
	}
	return 8 + int64(len(p.header)) + p.total, nil
}

func layout(m *refit.Model, opts *EncodeOptions) (*plan, error) {
	type entry struct {
		t    *tensor.Tensor
		info dtypeInfo
	}
	entries := make([]entry, 0, len(m.Tensors))
	seen := make(map[string]bool, len(m.Tensors))
	for _, t := range m.Tensors {
		switch {
		case t.Name == "" || t.Name == metadataKey:
			return nil, fmt.Errorf("safetensors: invalid tensor name %q", t.Name)
		case !utf8.ValidString(t.Name):
			return nil, fmt.Errorf("safetensors: tensor name %q is not valid UTF-8", t.Name)
		case seen[t.Name]:
			return nil, fmt.Errorf("safetensors: duplicate tensor name %q", t.Name)
		}
		seen[t.Name] = true
		info, ok := dtypeByType(t.DType)
		if !ok {
			return nil, refit.Unsupportedf("safetensors", "tensor %q: dtype %v has no safetensors equivalent", t.Name, t.DType)
		}
		want, err := tensor.ByteSize(t.DType, t.Shape)
		if err != nil {
			return nil, fmt.Errorf("safetensors: tensor %q: %w", t.Name, err)
		}
		if t.Data == nil || t.Data.Size() != want {
			return nil, fmt.Errorf("safetensors: tensor %q: %v %v needs %d bytes, data has %d", t.Name, t.DType, t.Shape, want, dataSize(t))
		}
		entries = append(entries, entry{t, info})
	}
	slices.SortFunc(entries, func(a, b entry) int {
		if c := cmp.Compare(b.info.rank, a.info.rank); c != 0 {
			return c
		}
		return cmp.Compare(a.t.Name, b.t.Name) // byte order, as Rust compares strings
	})

	md, err := metadataStrings(m.Metadata, opts)
	if err != nil {
		return nil, err
	}
	hdr := []byte{'{'}
	if len(md) > 0 {
		hdr = appendString(hdr, metadataKey)
		hdr = append(hdr, ':', '{')
		for i, kv := range md {
			if i > 0 {
				hdr = append(hdr, ',')
			}
			hdr = appendString(hdr, kv[0])
			hdr = append(hdr, ':')
			hdr = appendString(hdr, kv[1])
		}
		hdr = append(hdr, '}')
	}
	p := &plan{tensors: make([]*tensor.Tensor, len(entries))}
	for i, e := range entries {
		if len(hdr) > 1 {
			hdr = append(hdr, ',')
		}
		hdr = appendString(hdr, e.t.Name)
		hdr = append(hdr, `:{"dtype":`...)
		hdr = appendString(hdr, e.info.name)
		hdr = append(hdr, `,"shape":[`...)
		for j, d := range e.t.Shape {
			if j > 0 {
				hdr = append(hdr, ',')
			}
			hdr = strconv.AppendInt(hdr, d, 10)
		}
		size := e.t.Data.Size()
		if p.total > math.MaxInt64-size {
			return nil, fmt.Errorf("safetensors: model size overflows int64: %w", tensor.ErrOverflow)
		}
		hdr = append(hdr, `],"data_offsets":[`...)
		hdr = strconv.AppendInt(hdr, p.total, 10)
		hdr = append(hdr, ',')
		p.total += size
		hdr = strconv.AppendInt(hdr, p.total, 10)
		hdr = append(hdr, ']', '}')
		p.tensors[i] = e.t
		if len(hdr) > MaxHeaderSize {
			return nil, refit.Unsupportedf("safetensors", "header exceeds the %d-byte cap readers enforce", MaxHeaderSize)
		}
	}
	hdr = append(hdr, '}')
	for len(hdr)%headerAlign != 0 {
		hdr = append(hdr, ' ')
	}
	if len(hdr) > MaxHeaderSize {
		return nil, refit.Unsupportedf("safetensors", "header exceeds the %d-byte cap readers enforce", MaxHeaderSize)
	}
	p.header = hdr
	return p, nil
}

func dataSize(t *tensor.Tensor) int64 {
	if t.Data == nil {
		return 0
	}
	return t.Data.Size()
}

// metadataStrings returns the metadata that goes into __metadata__, sorted by key.
func metadataStrings(md refit.Metadata, opts *EncodeOptions) ([][2]string, error) {
	keys := md.Keys()
	slices.Sort(keys)
	var out [][2]string
	for _, k := range keys {
		v, _ := md.Get(k)
		s, ok := stringify(v)
		if !ok {
			continue
		}
		if _, isString := v.(string); !isString && opts.StringMetadataOnly {
			continue
		}
		if !utf8.ValidString(k) || !utf8.ValidString(s) {
			return nil, fmt.Errorf("safetensors: metadata %q is not valid UTF-8", k)
		}
		out = append(out, [2]string{k, s})
	}
	return out, nil
}

// stringify formats a scalar metadata value; lists and other values are not scalars.
func stringify(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case bool:
		return strconv.FormatBool(x), true
	case int:
		return strconv.FormatInt(int64(x), 10), true
	case int8:
		return strconv.FormatInt(int64(x), 10), true
	case int16:
		return strconv.FormatInt(int64(x), 10), true
	case int32:
		return strconv.FormatInt(int64(x), 10), true
	case int64:
		return strconv.FormatInt(x, 10), true
	case uint:
		return strconv.FormatUint(uint64(x), 10), true
	case uint8:
		return strconv.FormatUint(uint64(x), 10), true
	case uint16:
		return strconv.FormatUint(uint64(x), 10), true
	case uint32:
		return strconv.FormatUint(uint64(x), 10), true
	case uint64:
		return strconv.FormatUint(x, 10), true
	case float32:
		return strconv.FormatFloat(float64(x), 'g', -1, 32), true
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64), true
	}
	return "", false
}

// appendString appends s as a JSON string escaped the way serde_json (and Python's
// json with ensure_ascii=False) does: quote, backslash and control characters only,
// with \b \t \n \f \r short forms and lower-case \u00xx for the rest.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '"':
			b = append(b, '\\', '"')
		case '\\':
			b = append(b, '\\', '\\')
		case '\b':
			b = append(b, '\\', 'b')
		case '\t':
			b = append(b, '\\', 't')
		case '\n':
			b = append(b, '\\', 'n')
		case '\f':
			b = append(b, '\\', 'f')
		case '\r':
			b = append(b, '\\', 'r')
		default:
			if c < 0x20 {
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			} else {
				b = append(b, c)
			}
		}
	}
	return append(b, '"')
}
