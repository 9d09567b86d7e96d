package hostile

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// partBytes builds a part file as refit quantize --shard lays it out, with any
// lengths and trailer the attack wants.
func partBytes(headerLen uint64, header, data []byte, trailer []byte, jsonLen uint64) []byte {
	var b bytes.Buffer
	b.WriteString("REFITPRT")
	binary.Write(&b, binary.LittleEndian, uint32(1))
	binary.Write(&b, binary.LittleEndian, uint32(0))
	binary.Write(&b, binary.LittleEndian, headerLen)
	b.Write(header)
	b.Write(data)
	b.Write(trailer)
	binary.Write(&b, binary.LittleEndian, jsonLen)
	b.WriteString("REFITPRT")
	return b.Bytes()
}

// Attack class "batch": crafted part files for gguf-concat (lengths past the file,
// huge counts, a trailer that lies about the data), crafted jobs files and manifests
// for refit batch and its summary. Each must end in a clear error (exit 1 or 64), no
// crash within 1 GiB of address space, and no output.
func TestBatchHostileParts(t *testing.T) {
	dir := t.TempDir()
	llm, err := filepath.Abs(filepath.Join("..", "testdata", "models", "llm", "llama-f16.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	// A genuine two-part run to take pieces from.
	for _, i := range []string{"0", "1"} {
		if r := runRefit(t, limits{}, "quantize", llm, filepath.Join(dir, "good"+i), "--type", "Q8_0", "--shard", i+"/2"); r.code != 0 {
			t.Fatalf("making part %s: %v", i, r)
		}
	}
	good1, err := os.ReadFile(filepath.Join(dir, "good1"))
	if err != nil {
		t.Fatal(err)
	}
	jl := binary.LittleEndian.Uint64(good1[len(good1)-16:])
	hl := binary.LittleEndian.Uint64(good1[16:24])
	trailer := good1[len(good1)-16-int(jl) : len(good1)-16]
	header := good1[24 : 24+hl]
	data := good1[24+hl : len(good1)-16-int(jl)]
	var meta map[string]any
	if err := json.Unmarshal(trailer, &meta); err != nil {
		t.Fatal(err)
	}
	with := func(k string, v any) []byte {
		m := map[string]any{}
		for kk, vv := range meta {
			m[kk] = vv
		}
		m[k] = v
		b, _ := json.Marshal(m)
		return b
	}
	lying := func(k string, v any) []byte {
		tr := with(k, v)
		return partBytes(hl, header, data, tr, uint64(len(tr)))
	}
	cases := map[string][]byte{
		"empty":                 {},
		"magic only":            []byte("REFITPRT"),
		"huge header length":    partBytes(1<<62, header, data, trailer, jl),
		"header past the file":  partBytes(uint64(len(header)+len(data)+1), header, data, trailer, jl),
		"huge trailer length":   partBytes(hl, header, data, trailer, 1<<62),
		"trailer past the file": partBytes(hl, header, data, trailer, jl+uint64(len(data))+1),
		"trailer not json":      partBytes(hl, header, data, bytes.Repeat([]byte("{"), int(jl)), jl),
		"data bytes lie":        lying("data_bytes", len(data)*1000),
		"file bytes huge":       lying("file_bytes", int64(1)<<62),
		"negative offset":       lying("data_offset", -5),
		"part past parts":       lying("part", 7),
		"zero parts":            lying("parts", 0),
		"huge tensor count":     lying("all_tensors", 1<<40),
		"header hash lies":      lying("header_sha256", strings.Repeat("0", 64)),
		"data hash lies":        lying("data_sha256", strings.Repeat("0", 64)),
		"version from future":   append([]byte("REFITPRT\x09\x00\x00\x00"), good1[12:]...),
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			bad := filepath.Join(t.TempDir(), "bad")
			if err := os.WriteFile(bad, b, 0o644); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(t.TempDir(), "out.gguf")
			r := runRefit(t, limits{memKiB: 1 << 20}, "gguf-concat", filepath.Join(dir, "good0"), bad, out)
			if r.code != 1 {
				t.Errorf("gguf-concat exit %d, want 1\n%v", r.code, r)
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("an output was written")
			}
		})
	}
}

func TestBatchHostileJobs(t *testing.T) {
	dir := t.TempDir()
	pt, err := filepath.Abs(filepath.Join("..", "testdata", "models", "mnist", "mnist_cnn.pt"))
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.safetensors")
	good := `{"cmd":"convert","args":["` + pt + `","` + out + `"]}`
	for name, c := range map[string]struct {
		jobs string
		code int
	}{
		"line over 1 MB":      {`{"cmd":"convert","args":["` + strings.Repeat("a", 2<<20) + `","b"]}`, 1},
		"deep nesting":        {strings.Repeat("[", 100000), 64},
		"batch in a batch":    {`{"cmd":"batch","args":["jobs.jsonl"]}`, 64},
		"output is the input": {`{"cmd":"convert","args":["` + pt + `","` + pt + `"]}`, 1},
		"null args":           {`{"cmd":"convert","args":null}`, 64},
		"wrong types":         {`{"cmd":7,"args":"x"}`, 64},
	} {
		t.Run(name, func(t *testing.T) {
			jobs := filepath.Join(t.TempDir(), "jobs.jsonl")
			if err := os.WriteFile(jobs, []byte(c.jobs+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if r := runRefit(t, limits{memKiB: 1 << 20}, "batch", jobs); r.code != c.code {
				t.Errorf("exit %d, want %d\n%v", r.code, c.code, r)
			}
		})
	}
	// A planted manifest (bad JSON, another job's, paths elsewhere) never makes a job
	// count as done: the job runs and the manifest is replaced.
	jobs := filepath.Join(dir, "jobs.jsonl")
	if err := os.WriteFile(jobs, []byte(good+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, m := range map[string]string{
		"not json":     `{"refit_batch_manifest":1,`,
		"empty":        ``,
		"other job":    `{"refit_batch_manifest":1,"cmd":"prune","args":[],"inputs":[],"output_files":[]}`,
		"no files":     `{"refit_batch_manifest":1,"cmd":"convert","args":["` + pt + `","` + out + `"],"inputs":[],"output_files":[]}`,
		"other paths":  `{"refit_batch_manifest":1,"cmd":"convert","args":["` + pt + `","` + out + `"],"inputs":[{"path":"/etc/passwd","bytes":1,"sha256":"00"}],"output_files":[{"path":"/etc/hostname","bytes":1,"sha256":"00"}]}`,
		"huge version": `{"refit_batch_manifest":99999999999999999999}`,
	} {
		t.Run("manifest "+name, func(t *testing.T) {
			os.Remove(out)
			if err := os.WriteFile(out+".refit.json", []byte(m), 0o644); err != nil {
				t.Fatal(err)
			}
			r := runRefit(t, limits{memKiB: 1 << 20}, "batch", jobs)
			if r.code != 0 || !strings.Contains(r.stdout, "1 done") {
				t.Errorf("the job did not run\n%v", r)
			}
			if r := runRefit(t, limits{}, "batch", "summary", dir); r.code != 0 {
				t.Errorf("summary after the rerun: %v", r)
			}
		})
	}
	if err := os.WriteFile(out+".refit.json", []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := runRefit(t, limits{}, "batch", "summary", dir); r.code != 1 || !strings.Contains(r.stdout, "stale") {
		t.Errorf("summary of a folder with a bad manifest: %v", r)
	}
}
