package slurm

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/internal/testtool"
)

// TestSlurmArrayBatchS3 is TestSlurmArrayBatch with the model zoo, the jobs file, the
// outputs and the manifests in a real S3 server (SeaweedFS's gateway): a 3-task array,
// one task's refit SIGKILLed while it writes, a resubmission, and every output equal to
// a local run's bytes with one manifest object per job.
func TestSlurmArrayBatchS3(t *testing.T) {
	s3 := testtool.StartS3(t)
	s3.MakeBucket(t, "zoo")
	c := startCluster(t)
	c.env = append(c.env, s3.Env()...)
	client := s3.Client(t)
	ctx := context.Background()
	refitBin, err := testtool.BuildRefit(c.dir)
	if err != nil {
		t.Fatal(err)
	}
	repo := testtool.RepoRoot()
	work := filepath.Join(c.dir, "work")
	spool := filepath.Join(work, "tmp") // TMPDIR of the tasks: where S3 outputs are spooled
	if err := os.Mkdir(spool, 0o755); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(work, "big-f32.gguf")
	writeBigGGUF(t, big, 16, 2048, 2048) // 256 MB
	local := map[string]string{
		"in/big-f32.gguf":   big,
		"in/mnist.pt":       filepath.Join(repo, "testdata", "models", "mnist", "mnist_cnn.pt"),
		"in/llama-f16.gguf": filepath.Join(repo, "testdata", "models", "llm", "llama-f16.gguf"),
	}
	for key, path := range local {
		if _, err := client.FPutObject(ctx, "zoo", key, path, minio.PutObjectOptions{}); err != nil {
			t.Fatalf("uploading %s: %v", key, err)
		}
	}
	u := func(key string) string { return "s3://zoo/" + key }
	jobs := []job{
		{"quantize", []string{u("in/big-f32.gguf"), u("out/big-q6k.gguf"), "--type", "Q6_K", "--threads", "1"}},
		{"convert", []string{u("in/mnist.pt"), u("out/mnist.safetensors")}},
		{"quantize", []string{u("in/llama-f16.gguf"), u("out/llama-q8.gguf"), "--type", "Q8_0"}},
		{"convert", []string{u("in/mnist.pt"), u("out/mnist-f16.safetensors"), "--dtype", "f16"}},
		{"quantize", []string{u("in/llama-f16.gguf"), u("out/llama-q4km.gguf"), "--type", "Q4_K_M", "--allow-fallback"}},
		{"convert", []string{u("in/llama-f16.gguf"), u("out/llama.safetensors"), "--dtype", "f32"}},
	}
	// Reference outputs: the same commands on local files.
	refs := make([]string, len(jobs))
	for i, j := range jobs {
		in := local[strings.TrimPrefix(j.Args[0], "s3://zoo/")]
		refs[i] = filepath.Join(c.dir, fmt.Sprintf("ref-%d-%s", i, filepath.Base(j.Args[1])))
		args := append([]string{j.Cmd, in, refs[i]}, j.Args[2:]...)
		if b, err := exec.Command(refitBin, args...).CombinedOutput(); err != nil {
			t.Fatalf("local %v: %v\n%s", args, err, b)
		}
	}
	var lines []string
	for _, j := range jobs {
		b, _ := json.Marshal(j)
		lines = append(lines, string(b))
	}
	jobsText := strings.Join(lines, "\n") + "\n"
	if _, err := client.PutObject(ctx, "zoo", "jobs.jsonl", strings.NewReader(jobsText), int64(len(jobsText)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(repo, "deploy", "slurm", "refit-array.sbatch")
	submit := func() string {
		return c.run("sbatch", "--parsable", "--array=0-2", "--chdir="+work,
			"--output="+filepath.Join(work, "s3-%A_%a.log"), "--export=ALL,REFIT="+refitBin+",TMPDIR="+spool, script, u("jobs.jsonl"))
	}
	object := func(key string) ([]byte, error) {
		o, err := client.GetObject(ctx, "zoo", key, minio.GetObjectOptions{})
		if err != nil {
			return nil, err
		}
		defer o.Close()
		return io.ReadAll(o)
	}
	exists := func(key string) bool {
		_, err := client.StatObject(ctx, "zoo", key, minio.StatObjectOptions{})
		return err == nil
	}
	key := func(i int) string { return strings.TrimPrefix(jobs[i].Args[1], "s3://zoo/") }

	// First run: SIGKILL task 0's refit while it spools job 0's output.
	first := submit()
	var spooled string
	c.waitFor("job 0 to be writing its output", func() bool {
		m, _ := filepath.Glob(filepath.Join(spool, refit.TempPrefix+"*-big-q6k.gguf"))
		if len(m) > 0 {
			spooled = m[0]
		}
		return len(m) > 0
	})
	var pid int
	if _, err := fmt.Sscanf(strings.TrimPrefix(filepath.Base(spooled), refit.TempPrefix), "%d-", &pid); err != nil || pid <= 0 {
		t.Fatalf("no PID in %s: %v", spooled, err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 %d: %v", pid, err)
	}
	c.waitJob(first)
	done1 := map[int][]byte{}
	for i := range jobs {
		b, err := object(key(i) + ".refit.json")
		switch {
		case err == nil:
			done1[i] = b
		case i%3 != 0:
			c.dumpLogs()
			t.Fatalf("after the first run, job %d (task %d, not killed) has no manifest: %v", i, i%3, err)
		}
	}
	if _, ok := done1[0]; ok {
		t.Fatalf("job 0 finished before it was killed; the test needs a slower job")
	}
	if exists(key(0)) {
		t.Errorf("the killed job's object exists")
	}

	// Resubmit: only jobs 0 and 3 run.
	second := submit()
	c.waitJob(second)
	for i := range jobs {
		b, err := object(key(i) + ".refit.json")
		if err != nil {
			c.dumpLogs()
			t.Fatalf("job %d has no manifest after the resubmission: %v", i, err)
		}
		if prev, ok := done1[i]; ok && !bytes.Equal(prev, b) {
			t.Errorf("job %d ran twice (its manifest changed)", i)
		}
		got, err := object(key(i))
		if err != nil {
			t.Fatal(err)
		}
		if want, _ := os.ReadFile(refs[i]); !bytes.Equal(got, want) {
			t.Errorf("job %d: the S3 output differs from the local run's", i)
		}
	}
	if m, _ := filepath.Glob(filepath.Join(spool, refit.TempPrefix+"*")); len(m) > 0 {
		t.Errorf("spool files left: %v", m)
	}
	// Parts on S3 and the joined file on S3: the local Q4_K_M run's bytes (job 4).
	refitIn := func(args ...string) {
		t.Helper()
		cmd := exec.Command(refitBin, args...)
		cmd.Env = c.env
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("refit %v: %v\n%s", args, err, b)
		}
	}
	for i := range 2 {
		refitIn("quantize", u("in/llama-f16.gguf"), u(fmt.Sprintf("parts/p%d", i)), "--type", "Q4_K_M", "--allow-fallback", "--shard", fmt.Sprintf("%d/2", i))
	}
	refitIn("gguf-concat", u("parts/p1"), u("parts/p0"), u("out/joined-q4km.gguf"))
	if got, err := object("out/joined-q4km.gguf"); err != nil {
		t.Error(err)
	} else if want, _ := os.ReadFile(refs[4]); !bytes.Equal(got, want) {
		t.Errorf("the file joined from S3 parts differs from the local Q4_K_M run")
	}
	for _, target := range []string{u("jobs.jsonl"), u("out/")} {
		cmd := exec.Command(refitBin, "batch", "summary", "--json", target)
		cmd.Env = c.env
		b, err := cmd.Output()
		var sum struct{ Done, Missing, Stale int }
		if err != nil || json.Unmarshal(b, &sum) != nil || sum.Done != len(jobs) || sum.Missing+sum.Stale != 0 {
			t.Errorf("refit batch summary %s: %+v, %v\n%s", target, sum, err, b)
		}
	}
}
