package safetensors

import (
	"context"
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/tensor"
)

// ShardName is the Hugging Face shard file name pattern: base, index, count (1-based).
const ShardName = "%s-%05d-of-%05d" + Extension

// WriteShards writes m into dir the way Hugging Face libraries do (see EncodeFS):
// base-00001-of-0000N.safetensors shards of at most maxShardBytes tensor bytes plus
// base.safetensors.index.json, or base.safetensors alone when the model fits in one
// shard (or maxShardBytes <= 0). It returns the paths written, index last.
//
// Files are written to a temporary folder and renamed only after all were written
// (shards before the index, so an interrupted rename never leaves an index naming
// missing shards); on any error every temporary file is removed.
func WriteShards(dir, base string, m *refit.Model, maxShardBytes int64, overwrite bool) ([]string, error) {
	return WriteShardsContext(context.Background(), dir, base, m, maxShardBytes, overwrite)
}

// WriteShardsContext is WriteShards whose writes fail, and whose files are removed,
// once ctx is done.
func WriteShardsContext(ctx context.Context, dir, base string, m *refit.Model, maxShardBytes int64, overwrite bool) ([]string, error) {
	if err := checkBase(base); err != nil {
		return nil, err
	}
	if err := refit.CheckOutputDir(dir); err != nil {
		return nil, err
	}
	out, err := refit.CreatePendingOutput(ctx, dir, true, overwrite)
	if err != nil {
		return nil, err
	}
	defer out.Abort()
	if err := writeShards(out.Create, base, "", m, maxShardBytes); err != nil {
		return nil, err
	}
	return out.Commit()
}

// EncodeFS writes m as Hugging Face libraries do: tensors, in model order, fill
// shards of at most opts.ShardSize tensor bytes (a larger tensor gets a shard of its
// own), named BASE-00001-of-0000N.safetensors, followed by BASE.safetensors.index.json
// with metadata.total_size and a sorted weight_map. Every shard carries the model's
// metadata. BASE is opts.Name without its extension, or "model". A model that fits in
// one shard (or ShardSize <= 0) is one file, opts.Name or model.safetensors, with no
// index, as they do too.
func EncodeFS(create refit.CreateFunc, m *refit.Model, opts *refit.EncodeOptions) error {
	if opts == nil {
		opts = &refit.EncodeOptions{}
	}
	base := "model"
	if opts.Name != "" {
		base = strings.TrimSuffix(opts.Name, path.Ext(opts.Name))
	}
	if err := checkBase(base); err != nil {
		return err
	}
	return writeShards(create, base, opts.Name, m, opts.ShardSize)
}

func checkBase(base string) error {
	if base == "" || strings.ContainsAny(base, `/\`) || base == "." || base == ".." {
		return fmt.Errorf("safetensors: invalid shard base name %q", base)
	}
	return nil
}

// writeShards writes the files of EncodeFS; single names the file of a model that
// fits in one shard ("" for base.safetensors).
func writeShards(create refit.CreateFunc, base, single string, m *refit.Model, maxShardBytes int64) error {
	opts := &EncodeOptions{}
	if _, err := layout(m, opts); err != nil { // reject the model before creating files
		return err
	}
	groups := splitShards(m.Tensors, maxShardBytes)
	type output struct {
		name    string
		tensors []*tensor.Tensor
		index   []byte
	}
	var outs []output
	if len(groups) <= 1 {
		if single == "" {
			single = base + Extension
		}
		outs = append(outs, output{name: single, tensors: m.Tensors})
	} else {
		weightMap := map[string]string{}
		var total int64
		for i, g := range groups {
			name := fmt.Sprintf(ShardName, base, i+1, len(groups))
			for _, t := range g {
				weightMap[t.Name] = name
				total += t.Size()
			}
			outs = append(outs, output{name: name, tensors: g})
		}
		outs = append(outs, output{name: base + IndexSuffix, index: indexJSON(total, weightMap)})
	}
	for _, o := range outs {
		w, err := create(o.name)
		if err != nil {
			return err
		}
		if o.index != nil {
			_, err = w.Write(o.index)
		} else {
			err = Encode(w, m.Derive(o.tensors), opts)
		}
		if err == nil {
			err = w.Close()
		} else {
			w.Close()
		}
		if err != nil {
			return fmt.Errorf("safetensors: writing %s: %w", o.name, err)
		}
	}
	return nil
}

// splitShards groups tensors, in order, into runs of at most limit bytes.
func splitShards(ts []*tensor.Tensor, limit int64) [][]*tensor.Tensor {
	if limit <= 0 {
		return [][]*tensor.Tensor{ts}
	}
	var groups [][]*tensor.Tensor
	var cur []*tensor.Tensor
	var size int64
	for _, t := range ts {
		if len(cur) > 0 && size+t.Size() > limit {
			groups = append(groups, cur)
			cur, size = nil, 0
		}
		cur = append(cur, t)
		size += t.Size()
	}
	if len(cur) > 0 || len(groups) == 0 {
		groups = append(groups, cur)
	}
	return groups
}

// indexJSON formats an index as Python's json.dumps(index, indent=2, sort_keys=True)
// followed by a newline, which is how Hugging Face libraries write it.
func indexJSON(total int64, weightMap map[string]string) []byte {
	b := []byte("{\n  \"metadata\": {\n    \"total_size\": ")
	b = strconv.AppendInt(b, total, 10)
	b = append(b, "\n  },\n  \"weight_map\": {"...)
	names := sortedKeys(weightMap)
	for i, n := range names {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, "\n    "...)
		b = appendASCIIString(b, n)
		b = append(b, ": "...)
		b = appendASCIIString(b, weightMap[n])
	}
	if len(names) > 0 {
		b = append(b, "\n  "...)
	}
	return append(b, "}\n}\n"...)
}

// appendASCIIString escapes like Python's json with ensure_ascii=True: everything
// outside printable ASCII becomes \uXXXX (surrogate pairs beyond the BMP).
func appendASCIIString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	u16 := func(b []byte, r rune) []byte {
		return append(b, '\\', 'u', hex[r>>12&0xf], hex[r>>8&0xf], hex[r>>4&0xf], hex[r&0xf])
	}
	b = append(b, '"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b = append(b, '\\', byte(r))
		case r == '\n':
			b = append(b, '\\', 'n')
		case r == '\r':
			b = append(b, '\\', 'r')
		case r == '\t':
			b = append(b, '\\', 't')
		case r == '\b':
			b = append(b, '\\', 'b')
		case r == '\f':
			b = append(b, '\\', 'f')
		case r >= 0x20 && r < 0x7f:
			b = append(b, byte(r))
		case r < 0x10000:
			b = u16(b, r)
		default:
			r -= 0x10000
			b = u16(b, 0xd800+(r>>10))
			b = u16(b, 0xdc00+(r&0x3ff))
		}
	}
	return append(b, '"')
}
