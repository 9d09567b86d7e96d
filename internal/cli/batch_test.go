package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/spf13/cobra"
)

func TestSelectShard(t *testing.T) {
	tests := []struct {
		name    string
		flag    string
		count   int
		env     map[string]string
		want    shardSel
		wantErr bool
	}{
		{name: "none", want: shardSel{0, 1, ""}},
		{name: "flag", flag: "2/5", want: shardSel{2, 5, "--shard"}},
		{name: "flag wins over slurm", flag: "0/2", env: map[string]string{envSlurmID: "1", envSlurmCount: "3"}, want: shardSel{0, 2, "--shard"}},
		{name: "slurm", env: map[string]string{envSlurmID: "2", envSlurmCount: "3", envSlurmMin: "0"}, want: shardSel{2, 3, "slurm"}},
		{name: "slurm from 1", env: map[string]string{envSlurmID: "3", envSlurmCount: "3", envSlurmMin: "1"}, want: shardSel{2, 3, "slurm"}},
		{name: "slurm step", env: map[string]string{envSlurmID: "5", envSlurmCount: "3", envSlurmMin: "1", envSlurmStep: "2"}, want: shardSel{2, 3, "slurm"}},
		{name: "slurm --shards", count: 4, env: map[string]string{envSlurmID: "3", envSlurmCount: "2"}, want: shardSel{3, 4, "slurm"}},
		{name: "kubernetes", env: map[string]string{envK8sIndex: "1", envShards: "2"}, want: shardSel{1, 2, "kubernetes"}},
		{name: "kubernetes --shards", count: 3, env: map[string]string{envK8sIndex: "2"}, want: shardSel{2, 3, "kubernetes"}},
		{name: "kubernetes no count", env: map[string]string{envK8sIndex: "1"}, wantErr: true},
		{name: "index past count", env: map[string]string{envK8sIndex: "2", envShards: "2"}, wantErr: true},
		{name: "slurm off step", env: map[string]string{envSlurmID: "2", envSlurmCount: "3", envSlurmMin: "1", envSlurmStep: "2"}, wantErr: true},
		{name: "slurm garbage", env: map[string]string{envSlurmID: "x", envSlurmCount: "3"}, wantErr: true},
		{name: "flag bad", flag: "3/3", wantErr: true},
		{name: "flag zero count", flag: "0/0", wantErr: true},
		{name: "flag and shards", flag: "0/2", count: 2, wantErr: true},
		{name: "shards alone", count: 2, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := selectShard(tt.flag, tt.count, func(k string) string { return tt.env[k] })
			if (err != nil) != tt.wantErr {
				t.Fatalf("selectShard = %v, %v; want error %v", got, err, tt.wantErr)
			}
			if err == nil && got != tt.want {
				t.Errorf("selectShard = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// batchZoo writes a jobs file of n convert jobs over copies of the MNIST checkpoint
// (each its own input, so one can be changed alone) and returns it with the outputs.
func batchZoo(t *testing.T, dir string, n int) (jobs string, outs []string) {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("..", "..", "testdata", "models", "mnist", "mnist_cnn.pt"))
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	exts := []string{"safetensors", "gguf", "npz"}
	for i := range n {
		in := filepath.Join(dir, fmt.Sprintf("in%d.pt", i))
		if err := os.WriteFile(in, src, 0o644); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, "out", fmt.Sprintf("m%d.%s", i, exts[i%len(exts)]))
		args := []string{in, out}
		if i%2 == 1 {
			args = append(args, "--dtype", "f16")
		}
		b, _ := json.Marshal(batchJob{Cmd: "convert", Args: args})
		lines = append(lines, string(b))
		outs = append(outs, out)
	}
	if err := os.MkdirAll(filepath.Join(dir, "out"), 0o755); err != nil {
		t.Fatal(err)
	}
	jobs = filepath.Join(dir, "jobs.jsonl")
	text := "# a comment, then a blank line\n\n" + strings.Join(lines, "\n") + "\n"
	if err := os.WriteFile(jobs, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return jobs, outs
}

func runMain(t *testing.T, ctx context.Context, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = Main(ctx, args, strings.NewReader(""), &o, &e)
	return code, o.String(), e.String()
}

func batchRun(t *testing.T, args ...string) *batchReport {
	t.Helper()
	code, out, errOut := runMain(t, context.Background(), append([]string{"batch", "--json"}, args...)...)
	var rep batchReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("refit batch %v: exit %d, stdout %q, stderr %q", args, code, out, errOut)
	}
	if want := map[bool]int{true: ExitFailure, false: ExitOK}[rep.Failed > 0]; code != want {
		t.Fatalf("refit batch %v exit %d with %d failed, want %d; stderr %s", args, code, rep.Failed, want, errOut)
	}
	return &rep
}

func statuses(rep *batchReport) map[int]string {
	m := map[int]string{}
	for _, j := range rep.Jobs {
		m[j.Job] = j.Status
	}
	return m
}

// TestBatchShards runs a 7-job batch as three shards: every job runs exactly once, in
// shard job mod 3, and its output is the one a direct run writes.
func TestBatchShards(t *testing.T) {
	dir := t.TempDir()
	jobs, outs := batchZoo(t, dir, 7)
	ran := map[int]int{}
	for i := range 3 {
		rep := batchRun(t, "--shard", fmt.Sprintf("%d/3", i), jobs)
		for _, j := range rep.Jobs {
			if j.Status != "done" || j.Job%3 != i {
				t.Errorf("shard %d ran job %d: %s", i, j.Job, j.Status)
			}
			ran[j.Job]++
		}
	}
	for i, out := range outs {
		if ran[i] != 1 {
			t.Errorf("job %d ran %d times", i, ran[i])
		}
		m, err := readManifest(out)
		if err != nil || m == nil {
			t.Fatalf("manifest of %s: %v, %v", out, m, err)
		}
		if m.Job != i || m.Shard != fmt.Sprintf("%d/3", i%3) || len(m.Inputs) != 1 || len(m.Outputs) != 1 {
			t.Errorf("manifest %d: job %d shard %s, %d inputs, %d outputs", i, m.Job, m.Shard, len(m.Inputs), len(m.Outputs))
		}
		if m.Figures["verified"] != true {
			t.Errorf("manifest %d figures %v lack the command's verified: true", i, m.Figures)
		}
	}
	// Byte-identical to running the command directly.
	direct := filepath.Join(dir, "direct.safetensors")
	if code, _, e := runMain(t, context.Background(), "convert", filepath.Join(dir, "in3.pt"), direct, "--dtype", "f16"); code != 0 {
		t.Fatal(e)
	}
	a, _ := os.ReadFile(direct)
	b, _ := os.ReadFile(outs[3])
	if !bytes.Equal(a, b) {
		t.Errorf("batch output %s differs from the direct run", outs[3])
	}
	// A whole-batch rerun skips everything.
	rep := batchRun(t, jobs)
	if rep.Skipped != 7 || rep.Done != 0 {
		t.Errorf("rerun: %d skipped, %d done; want 7, 0", rep.Skipped, rep.Done)
	}
}

// TestBatchRedo changes what a manifest describes in each way and checks that exactly
// those jobs run again.
func TestBatchRedo(t *testing.T) {
	dir := t.TempDir()
	jobs, outs := batchZoo(t, dir, 5)
	if rep := batchRun(t, jobs); rep.Done != 5 {
		t.Fatalf("first run: %+v", rep)
	}
	// Job 0: an input changed (same size, other bytes). Job 1: the manifest is gone
	// (a crash between output and manifest). Job 2: the output is gone. Job 3: the
	// output was altered. Job 4 stays.
	touchInput(t, filepath.Join(dir, "in0.pt"))
	if err := os.Remove(manifestPath(outs[1])); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(outs[2]); err != nil {
		t.Fatal(err)
	}
	o3 := mustRead(t, outs[3])
	o3[len(o3)-1] ^= 0xff
	if err := os.WriteFile(outs[3], o3, 0o644); err != nil {
		t.Fatal(err)
	}
	// --dry-run says what would run and runs nothing.
	rep := batchRun(t, "--dry-run", jobs)
	if got, want := statuses(rep), map[int]string{0: "pending", 1: "pending", 2: "pending", 3: "pending", 4: "skipped"}; fmt.Sprint(got) != fmt.Sprint(want) || rep.Pending != 4 {
		t.Errorf("--dry-run statuses %v, want %v", got, want)
	}
	if _, err := os.Stat(outs[2]); err == nil {
		t.Errorf("--dry-run wrote %s", outs[2])
	}
	rep = batchRun(t, jobs)
	want := map[int]string{0: "done", 1: "done", 2: "done", 3: "done", 4: "skipped"}
	if got := statuses(rep); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("rerun statuses %v, want %v", got, want)
	}
	if o := mustRead(t, outs[3]); bytes.Equal(o, o3) {
		t.Errorf("the altered output was not rewritten")
	}
	if rep := batchRun(t, jobs); rep.Skipped != 5 {
		t.Errorf("third run: %+v", rep)
	}
}

// touchInput replaces a checkpoint with another valid one: its f16 variant.
func touchInput(t *testing.T, path string) {
	t.Helper()
	tmp := path + ".f16.pt"
	if code, _, e := runMain(t, context.Background(), "convert", path, tmp, "--dtype", "f16"); code != 0 {
		t.Fatal(e)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestBatchFailures: a failing job leaves no manifest and does not stop the others,
// unless --fail-fast; the batch exits 1.
func TestBatchFailures(t *testing.T) {
	dir := t.TempDir()
	jobs, outs := batchZoo(t, dir, 4)
	if err := os.Remove(filepath.Join(dir, "in1.pt")); err != nil {
		t.Fatal(err)
	}
	rep := batchRun(t, "--fail-fast", jobs)
	if got := statuses(rep); fmt.Sprint(got) != fmt.Sprint(map[int]string{0: "done", 1: "failed"}) {
		t.Errorf("--fail-fast statuses %v", got)
	}
	rep = batchRun(t, jobs)
	want := map[int]string{0: "skipped", 1: "failed", 2: "done", 3: "done"}
	if got := statuses(rep); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("statuses %v, want %v", got, want)
	}
	for _, p := range []string{outs[1], manifestPath(outs[1])} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("failed job left %s", p)
		}
	}
	// The summary of the jobs file counts the missing job and exits 1.
	code, out, _ := runMain(t, context.Background(), "batch", "summary", "--json", jobs)
	var s batchSummary
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatal(err)
	}
	if code != ExitFailure || s.Done != 3 || s.Missing != 1 || s.Jobs[1].Status != "missing" {
		t.Errorf("summary exit %d: %d done, %d missing", code, s.Done, s.Missing)
	}
	// The folder summary lists the three manifests.
	code, out, _ = runMain(t, context.Background(), "batch", "summary", filepath.Join(dir, "out"))
	if code != 0 || strings.Count(out, " done ") != 3 || !strings.Contains(out, "3 jobs: 3 done") {
		t.Errorf("folder summary exit %d:\n%s", code, out)
	}
}

func TestBatchBadJobs(t *testing.T) {
	dir := t.TempDir()
	for name, line := range map[string]string{
		"unknown field":    `{"cmd":"convert","args":["a","b"],"output":"b"}`,
		"unknown cmd":      `{"cmd":"inspect","args":["a"]}`,
		"no output":        `{"cmd":"convert","args":["a"]}`,
		"bad flag":         `{"cmd":"convert","args":["a","b","--no-such-flag"]}`,
		"not json":         `convert a b`,
		"two objects":      `{"cmd":"convert","args":["a","b"]} {}`,
		"duplicate output": `{"cmd":"convert","args":["a","b"]}` + "\n" + `{"cmd":"prune","args":["c","b"]}`,
		"no jobs":          "# only a comment\n",
	} {
		t.Run(name, func(t *testing.T) {
			jobs := filepath.Join(dir, "jobs.jsonl")
			if err := os.WriteFile(jobs, []byte(line+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if code, _, e := runMain(t, context.Background(), "batch", jobs); code != ExitUsage {
				t.Errorf("exit %d, want %d; stderr %s", code, ExitUsage, e)
			}
		})
	}
}

// TestBatchJobArgs: flag values are not taken for paths; distill's output is --out.
func TestBatchJobArgs(t *testing.T) {
	root := newBatchTestRoot()
	for _, tt := range []struct {
		line       string
		out        string
		inputs     string
		forceGiven bool
	}{
		{`{"cmd":"convert","args":["--dtype","f16","a.pt","b.safetensors"]}`, "b.safetensors", "[a.pt]", false},
		{`{"cmd":"quantize","args":["a.gguf","--type","Q4_0","b.gguf","--force"],"inputs":["imx.dat"]}`, "b.gguf", "[a.gguf imx.dat]", true},
		{`{"cmd":"distill","args":["--teacher","t.onnx","--student","s.onnx","--data","d.npz","--out","o.onnx"],"inputs":["t.onnx","s.onnx","d.npz"]}`, "o.onnx", "[t.onnx s.onnx d.npz]", false},
		{`{"cmd":"convert","args":["--threads","2","a","b"]}`, "b", "[a]", false},
	} {
		var j batchJob
		if err := json.Unmarshal([]byte(tt.line), &j); err != nil {
			t.Fatal(err)
		}
		if err := j.resolve(root); err != nil {
			t.Fatalf("%s: %v", tt.line, err)
		}
		if j.Output != tt.out || fmt.Sprint(j.Inputs) != tt.inputs || j.hasFlg["force"] != tt.forceGiven {
			t.Errorf("%s: output %q inputs %v force %v", tt.line, j.Output, j.Inputs, j.hasFlg["force"])
		}
	}
}

// newBatchTestRoot builds the command tree as Main does, for argument parsing.
func newBatchTestRoot() *cobra.Command {
	e := &env{ctx: context.Background()}
	root := &cobra.Command{Use: "refit"}
	root.PersistentFlags().Var(&e.maxMemory, "max-memory", "")
	root.PersistentFlags().IntVar(&e.threads, "threads", 0, "")
	for _, mk := range commands {
		root.AddCommand(mk(e))
	}
	return root
}

// TestBatchInterrupted: a batch whose context a signal cancelled exits 130 and
// writes no manifest.
func TestBatchInterrupted(t *testing.T) {
	dir := t.TempDir()
	jobs, outs := batchZoo(t, dir, 2)
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(signalError{syscall.SIGINT})
	code, _, _ := runMain(t, ctx, "batch", jobs)
	if code != ExitInterrupted {
		t.Errorf("exit %d, want %d", code, ExitInterrupted)
	}
	for _, o := range outs {
		if _, err := os.Stat(manifestPath(o)); err == nil {
			t.Errorf("%s has a manifest", o)
		}
	}
}

// TestBatchJobInterrupted: a signal during a batch job is reported once, by the batch,
// not by the job's command as well: the job runs as runNested, which leaves the
// message to its caller, where Main prints it.
func TestBatchJobInterrupted(t *testing.T) {
	dir := t.TempDir()
	_, outs := batchZoo(t, dir, 1)
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(signalError{syscall.SIGINT})
	args := []string{"convert", filepath.Join(dir, "in0.pt"), outs[0]}
	for _, nested := range []bool{false, true} {
		var stdout, stderr bytes.Buffer
		code := run(ctx, args, strings.NewReader(""), &stdout, &stderr, nested)
		if code != ExitInterrupted {
			t.Errorf("nested %v: exit %d, want %d", nested, code, ExitInterrupted)
		}
		want := 1
		if nested {
			want = 0
		}
		if n := strings.Count(stderr.String(), "interrupted"); n != want {
			t.Errorf("nested %v: stderr says interrupted %d times, want %d:\n%s", nested, n, want, stderr.String())
		}
	}
}

// TestBatchShardFromEnv runs a batch as a Kubernetes Indexed Job pod and as a Slurm
// array task would: the shard comes from the environment.
func TestBatchShardFromEnv(t *testing.T) {
	dir := t.TempDir()
	jobs, _ := batchZoo(t, dir, 5)
	t.Setenv(envK8sIndex, "1")
	t.Setenv(envShards, "2")
	rep := batchRun(t, jobs)
	if got := statuses(rep); fmt.Sprint(got) != fmt.Sprint(map[int]string{1: "done", 3: "done"}) || rep.Source != "kubernetes" {
		t.Errorf("Indexed Job pod 1 of 2 ran %v (%s)", got, rep.Source)
	}
	t.Setenv(envK8sIndex, "")
	t.Setenv(envSlurmID, "7")
	t.Setenv(envSlurmMin, "5")
	t.Setenv(envSlurmCount, "3")
	rep = batchRun(t, jobs)
	if got := statuses(rep); fmt.Sprint(got) != fmt.Sprint(map[int]string{2: "done"}) || rep.Source != "slurm" {
		t.Errorf("Slurm task 7 of 5-7 ran %v (%s)", got, rep.Source)
	}
}

// TestBatchGlobalFlags: --max-memory and --threads given to batch reach every job.
func TestBatchGlobalFlags(t *testing.T) {
	dir := t.TempDir()
	jobs, _ := batchZoo(t, dir, 1)
	if rep := batchRun(t, "--max-memory", "1000", "--threads", "1", jobs); rep.Failed != 1 || rep.Jobs[0].Exit != ExitFailure {
		t.Errorf("a 1000-byte budget: %+v, want the job to fail", rep)
	}
	if rep := batchRun(t, "--max-memory", "1GiB", "--threads", "1", jobs); rep.Done != 1 {
		t.Errorf("a 1 GiB budget: %+v, want the job done", rep)
	}
}
