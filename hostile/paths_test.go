//go:build unix

package hostile

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/refit-ml/refit/format/onnx/onnxpb"
)

// Attack class "paths": a model folder whose referenced files (ONNX external data,
// TF.js weight shards, safetensors index shards, TF checkpoint data files, the files
// of a Hugging Face folder) are symlinks out of the folder - here to /etc/passwd, sized
// so that the model would read it as tensor bytes - or FIFOs, and inputs that are FIFOs
// themselves. Every command must refuse them with refit's insecure-path error, within
// seconds, without the target's text in any output. The folders are built at test time
// (symlinks and FIFOs cannot be committed portably).

const secret = "/etc/passwd"

// pathsLimits: refusing a path takes no time; a FIFO that is opened blocking hangs.
var pathsLimits = limits{timeout: 30 * time.Second}

// secretText returns /etc/passwd's size and first line, the text that must not leak.
func secretText(t *testing.T) (int, string) {
	t.Helper()
	b, err := os.ReadFile(secret)
	if err != nil || len(b) < 16 {
		t.Skipf("%s is needed as the outside file: %v", secret, err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return len(b), line
}

// hostileFile is one file of a generated model folder: text, a symlink, or a FIFO.
type hostileFile struct {
	data    []byte
	symlink string // target
	fifo    bool
}

func makeFolder(t *testing.T, dir string, files map[string]hostileFile) {
	t.Helper()
	for name, f := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		switch {
		case f.symlink != "":
			err = os.Symlink(f.symlink, p)
		case f.fifo:
			err = syscall.Mkfifo(p, 0o644)
		default:
			err = os.WriteFile(p, f.data, 0o644)
		}
		if err != nil {
			t.Skipf("building %s: %v", name, err)
		}
	}
}

// onnxExternal is an ONNX model y = Identity(w) whose initializer w, n uint8 values,
// lives in the external data file location.
func onnxExternal(t *testing.T, n int, location string) []byte {
	t.Helper()
	const uint8Type = 2
	shape := &onnxpb.TensorShapeProto{Dim: []*onnxpb.TensorShapeProto_Dimension{
		{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: int64(n)}}}}
	mp := &onnxpb.ModelProto{
		IrVersion:   proto.Int64(8),
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(17)}},
		Graph: &onnxpb.GraphProto{
			Name: proto.String("g"),
			Node: []*onnxpb.NodeProto{{OpType: proto.String("Identity"), Input: []string{"w"}, Output: []string{"y"}}},
			Initializer: []*onnxpb.TensorProto{{
				Name: proto.String("w"), DataType: proto.Int32(uint8Type), Dims: []int64{int64(n)},
				DataLocation: onnxpb.TensorProto_EXTERNAL.Enum(),
				ExternalData: []*onnxpb.StringStringEntryProto{
					{Key: proto.String("location"), Value: proto.String(location)},
					{Key: proto.String("offset"), Value: proto.String("0")},
					{Key: proto.String("length"), Value: proto.String(fmt.Sprint(n))},
				},
			}},
			Output: []*onnxpb.ValueInfoProto{{Name: proto.String("y"), Type: &onnxpb.TypeProto{
				Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{
					ElemType: proto.Int32(uint8Type), Shape: shape}}}}},
		},
	}
	b, err := proto.Marshal(mp)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// tfjsModel is a TF.js layers model with one weight of n bytes (uint8-quantized) in shard.
func tfjsModel(n int, shard string) []byte {
	return fmt.Appendf(nil, `{"format":"layers-model","modelTopology":{"class_name":"Sequential","config":{"name":"s","layers":[]}},
"weightsManifest":[{"paths":[%q],"weights":[{"name":"w","shape":[%d],"dtype":"float32","quantization":{"dtype":"uint8","scale":1,"min":0}}]}]}`, shard, n)
}

// safetensorsIndex is a sharded-safetensors index naming one shard.
func safetensorsIndex(shard string) []byte {
	return fmt.Appendf(nil, `{"metadata":{"total_size":4},"weight_map":{"w":%q}}`, shard)
}

// safetensorsFile is a valid safetensors file with one F32 tensor.
func safetensorsFile() []byte {
	header := `{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`
	b := []byte{byte(len(header)), 0, 0, 0, 0, 0, 0, 0}
	b = append(b, header...)
	return append(b, 0, 0, 0x80, 0x3f)
}

const llamaConfig = `{"architectures":["LlamaForCausalLM"],"hidden_size":8,"num_hidden_layers":1,
"num_attention_heads":2,"num_key_value_heads":1,"intermediate_size":6,"max_position_embeddings":32,
"rms_norm_eps":1e-5,"vocab_size":5,"rope_theta":10000.0}`

const llamaTokenizer = `{"added_tokens":[{"id":3,"content":"<s>","special":true},{"id":4,"content":"</s>","special":true}],
"pre_tokenizer":{"type":"ByteLevel","add_prefix_space":false,"use_regex":true},
"model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2},"merges":["a b"]}}`

func tfCheckpoint(t *testing.T) map[string]hostileFile {
	t.Helper()
	files := map[string]hostileFile{}
	for _, n := range []string{"ckpt-1.index", "ckpt-1.data-00000-of-00002", "ckpt-1.data-00001-of-00002"} {
		b, err := os.ReadFile(filepath.Join("..", "format", "tfcheckpoint", "testdata", n))
		if err != nil {
			t.Fatal(err)
		}
		files[n] = hostileFile{data: b}
	}
	return files
}

// TestPathsEscape runs inspect, convert and run on model folders whose referenced files
// lead out of the folder or are FIFOs.
func TestPathsEscape(t *testing.T) {
	size, line := secretText(t)
	ext := map[string]hostileFile{"model.onnx": {data: onnxExternal(t, size, "weights.bin")}}
	ckpt := tfCheckpoint(t)
	type variant struct {
		name    string
		files   map[string]hostileFile
		ref     string   // the referenced file made hostile
		input   string   // what the commands get, relative to the folder
		command []string // commands run on input; "convert" writes .safetensors, "convert-gguf" .gguf
	}
	onnxCmds := []string{"inspect", "convert", "run"}
	otherCmds := []string{"inspect", "convert"}
	cases := []variant{
		{"onnx external data", ext, "weights.bin", "model.onnx", onnxCmds},
		{"onnx external data in a subfolder", map[string]hostileFile{
			"model.onnx": {data: onnxExternal(t, size, "data/weights.bin")}}, "data/weights.bin", "model.onnx", onnxCmds},
		{"tfjs shard", map[string]hostileFile{"model.json": {data: tfjsModel(size, "shard.bin")}}, "shard.bin", ".", otherCmds},
		{"tfjs model.json", map[string]hostileFile{"shard.bin": {data: make([]byte, size)}}, "model.json", ".", otherCmds},
		{"safetensors index shard", map[string]hostileFile{
			"model.safetensors.index.json": {data: safetensorsIndex("model-00001-of-00001.safetensors")}},
			"model-00001-of-00001.safetensors", "model.safetensors.index.json", otherCmds},
		{"safetensors index", map[string]hostileFile{
			"model-00001-of-00001.safetensors": {data: safetensorsFile()}}, "model.safetensors.index.json", ".", otherCmds},
		{"tf checkpoint data file", ckpt, "ckpt-1.data-00001-of-00002", "ckpt-1.index", otherCmds},
		// A Hugging Face folder is read as an LLM by convert to GGUF; inspect reads the
		// weights alone.
		{"hf config.json", map[string]hostileFile{"model.safetensors": {data: safetensorsFile()},
			"tokenizer.json": {data: []byte(llamaTokenizer)}}, "config.json", ".", []string{"convert-gguf"}},
		{"hf tokenizer.json", map[string]hostileFile{"model.safetensors": {data: safetensorsFile()},
			"config.json": {data: []byte(llamaConfig)}}, "tokenizer.json", ".", []string{"convert-gguf"}},
		{"hf weights", map[string]hostileFile{"config.json": {data: []byte(llamaConfig)},
			"tokenizer.json": {data: []byte(llamaTokenizer)}}, "model.safetensors", ".", []string{"inspect", "convert-gguf"}},
	}
	for _, c := range cases {
		for _, kind := range []string{"symlink", "relative symlink", "FIFO", "symlink to a FIFO outside"} {
			t.Run(c.name+"/"+kind, func(t *testing.T) {
				base := t.TempDir()
				dir := filepath.Join(base, "model")
				files := map[string]hostileFile{}
				for k, v := range c.files {
					if k != c.ref {
						files[k] = v
					}
				}
				switch kind {
				case "symlink":
					files[c.ref] = hostileFile{symlink: secret}
				case "relative symlink":
					up := strings.Repeat("../", strings.Count(filepath.Join("model", c.ref), string(filepath.Separator))+
						strings.Count(base, string(filepath.Separator)))
					files[c.ref] = hostileFile{symlink: up + strings.TrimPrefix(secret, "/")}
				case "FIFO":
					files[c.ref] = hostileFile{fifo: true}
				case "symlink to a FIFO outside":
					makeFolder(t, base, map[string]hostileFile{"pipe": {fifo: true}})
					files[c.ref] = hostileFile{symlink: filepath.Join(base, "pipe")}
				}
				makeFolder(t, dir, files)
				if err := os.Mkdir(filepath.Join(base, "out"), 0o755); err != nil {
					t.Fatal(err)
				}
				in := filepath.Join(dir, c.input)
				for _, cmd := range c.command {
					args := []string{cmd, in}
					out := filepath.Join(base, "out", "converted.safetensors")
					switch cmd {
					case "convert":
						args = append(args, out)
					case "convert-gguf":
						out = filepath.Join(base, "out", "converted.gguf")
						args = []string{"convert", in, out}
					}
					r := runRefit(t, pathsLimits, args...)
					checkRefused(t, args, r, line)
					noSecretIn(t, filepath.Dir(out), line)
				}
			})
		}
	}
}

// TestPathsInputs runs every command on inputs that are FIFOs or symlinks to FIFOs: they
// are refused at once instead of waiting for a writer.
func TestPathsInputs(t *testing.T) {
	base := t.TempDir()
	makeFolder(t, base, map[string]hostileFile{
		"pipe.pt": {fifo: true}, "pipe.onnx": {fifo: true}, "pipe.npz": {fifo: true}, "pipe.safetensors": {fifo: true},
		"link.onnx": {symlink: "pipe.onnx"}, "link.pt": {symlink: "pipe.pt"},
	})
	for _, in := range []string{"pipe.pt", "pipe.onnx", "pipe.npz", "pipe.safetensors", "link.onnx", "link.pt"} {
		for _, cmd := range []string{"inspect", "convert", "run", "scan"} {
			args := []string{cmd, filepath.Join(base, in)}
			if cmd == "convert" {
				args = append(args, filepath.Join(base, "out.safetensors"))
			}
			t.Run(cmd+" "+in, func(t *testing.T) {
				r := runRefit(t, pathsLimits, args...)
				checkRefused(t, args, r, "")
			})
		}
	}
	t.Run("run --input", func(t *testing.T) {
		size, _ := secretText(t)
		dir := t.TempDir()
		makeFolder(t, dir, map[string]hostileFile{"m.onnx": {data: onnxExternal(t, size, "w.bin")},
			"w.bin": {data: make([]byte, size)}, "x.npy": {fifo: true}})
		args := []string{"run", filepath.Join(dir, "m.onnx"), "--data", filepath.Join(dir, "x.npy")}
		checkRefused(t, args, runRefit(t, pathsLimits, args...), "")
	})
}

// TestPathsInsideFolder: symlinks that stay inside the folder keep working, as in a
// Hugging Face hub cache (snapshots/<rev>/file -> ../../blobs/<hash>), and a model
// folder or file given as a symlink is followed.
func TestPathsInsideFolder(t *testing.T) {
	const n = 4096
	base := t.TempDir()
	repo := filepath.Join(base, "hub", "models--org--tiny")
	makeFolder(t, repo, map[string]hostileFile{
		"blobs/aaaa":                   {data: onnxExternal(t, n, "weights.bin")},
		"blobs/bbbb":                   {data: bytes.Repeat([]byte{7}, n)},
		"snapshots/c0ffee/model.onnx":  {symlink: "../../blobs/aaaa"},
		"snapshots/c0ffee/weights.bin": {symlink: "../../blobs/bbbb"},
	})
	snap := filepath.Join(repo, "snapshots", "c0ffee")
	makeFolder(t, base, map[string]hostileFile{"mine.onnx": {symlink: filepath.Join(snap, "model.onnx")},
		"mydir": {symlink: snap}})
	for _, in := range []string{filepath.Join(snap, "model.onnx"), filepath.Join(base, "mydir", "model.onnx")} {
		args := []string{"convert", in, filepath.Join(t.TempDir(), "out.safetensors")}
		if r := runRefit(t, pathsLimits, args...); r.code != 0 {
			t.Errorf("refit %v: want success\n%v", args, r)
		}
	}
	for _, cmd := range []string{"inspect", "run"} {
		args := []string{cmd, filepath.Join(snap, "model.onnx")}
		if r := runRefit(t, pathsLimits, args...); r.code != 0 {
			t.Errorf("refit %v: want success\n%v", args, r)
		}
	}
	// mine.onnx is the user's own symlink: followed; its external data is looked up
	// beside mine.onnx (as onnxruntime does), where there is none.
	args := []string{"inspect", filepath.Join(base, "mine.onnx")}
	if r := runRefit(t, pathsLimits, args...); r.code == 0 || strings.Contains(r.stderr, "insecure path") {
		t.Errorf("refit %v: want a missing-file error\n%v", args, r)
	}
}

// checkRefused fails unless refit refused with its insecure-path error and printed
// nothing of the secret.
func checkRefused(t *testing.T, args []string, r result, secretLine string) {
	t.Helper()
	if r.code == 0 {
		t.Errorf("refit %v succeeded; want a refusal\n%v", args, r)
	}
	if !strings.Contains(r.stderr, "insecure path") {
		t.Errorf("refit %v: stderr lacks the insecure-path error\n%v", args, r)
	}
	if secretLine != "" && strings.Contains(r.stdout+r.stderr, secretLine) {
		t.Errorf("refit %v printed text of %s\n%v", args, secret, r)
	}
}

// noSecretIn fails if any regular file under dir holds the secret's first line.
func noSecretIn(t *testing.T, dir, secretLine string) {
	t.Helper()
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		if b, err := os.ReadFile(p); err == nil && bytes.Contains(b, []byte(secretLine)) {
			t.Errorf("%s holds text of %s", p, secret)
		}
		return nil
	})
}
