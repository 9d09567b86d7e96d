package slurm

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/gguf"
	"github.com/refit-ml/refit/internal/testtool"
	"github.com/refit-ml/refit/tensor"
)

// cluster is a one-node Slurm cluster with its own munged, all under dir.
type cluster struct {
	t    *testing.T
	dir  string
	conf string
	env  []string
	logs []string
}

// freePort returns a TCP port nobody listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startCluster starts munged, slurmctld and slurmd in the foreground as children of
// the test; Cleanup stops them.
func startCluster(t *testing.T) *cluster {
	t.Helper()
	for _, tool := range []string{"munged", "slurmctld", "slurmd", "sbatch", "squeue", "scancel", "sinfo", "scontrol"} {
		if _, err := exec.LookPath(tool); err != nil {
			testtool.Missing(t, "Slurm and munge (apt-get install slurm-wlm munge): "+tool, err)
		}
	}
	// Unix socket paths are short: keep the folder near the root.
	dir, err := os.MkdirTemp("", "refit-slurm-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	c := &cluster{t: t, dir: dir, conf: filepath.Join(dir, "slurm.conf")}
	for _, d := range []string{"munge", "state", "spool", "log", "work"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	key := make([]byte, 1024)
	f, err := os.Open("/dev/urandom")
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.Read(key)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "munge", "munge.key")
	if err := os.WriteFile(keyFile, key, 0o400); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "munge", "munge.sock")
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	host, _, _ = strings.Cut(host, ".")
	conf := fmt.Sprintf(`ClusterName=refittest
SlurmctldHost=%[2]s(127.0.0.1)
SlurmctldPort=%[3]d
SlurmdPort=%[4]d
SlurmUser=%[5]s
SlurmdUser=%[5]s
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=%[6]s
StateSaveLocation=%[1]s/state
SlurmdSpoolDir=%[1]s/spool
SlurmctldPidFile=%[1]s/slurmctld.pid
SlurmdPidFile=%[1]s/slurmd.pid
SlurmctldLogFile=%[1]s/log/slurmctld.log
SlurmdLogFile=%[1]s/log/slurmd.log
PlugStackConfig=%[1]s/plugstack.conf
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
SwitchType=switch/none
ReturnToService=2
KillWait=2
NodeName=%[2]s NodeAddr=127.0.0.1 CPUs=%[7]d State=UNKNOWN
PartitionName=refit Nodes=%[2]s Default=YES MaxTime=INFINITE State=UP
`, dir, host, freePort(t), freePort(t), currentUser(t), sock, cpus())
	if err := os.WriteFile(c.conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "plugstack.conf"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	c.env = append(os.Environ(), "SLURM_CONF="+c.conf)
	c.logs = []string{filepath.Join(dir, "log", "slurmctld.log"), filepath.Join(dir, "log", "slurmd.log"), filepath.Join(dir, "munge", "munged.log")}

	c.daemon("munged", "-F", "-f", "--socket="+sock, "--key-file="+keyFile,
		"--log-file="+filepath.Join(dir, "munge", "munged.log"), "--pid-file="+filepath.Join(dir, "munge", "munged.pid"),
		"--seed-file="+filepath.Join(dir, "munge", "munged.seed"))
	c.waitFor("munge socket", func() bool { _, err := os.Stat(sock); return err == nil })
	c.daemon("slurmctld", "-D", "-i", "-f", c.conf)
	c.daemon("slurmd", "-D", "-f", c.conf, "-N", host)
	c.waitFor("the node to be idle", func() bool {
		out, _ := c.cmd("sinfo", "-h", "-o", "%T").Output()
		return strings.TrimSpace(string(out)) == "idle"
	})
	return c
}

func currentUser(t *testing.T) string {
	out, err := exec.Command("id", "-un").Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

func cpus() int {
	n := 0
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		n = bytes.Count(b, []byte("\nprocessor\t"))
		if bytes.HasPrefix(b, []byte("processor\t")) {
			n++
		}
	}
	return max(n, 1)
}

// daemon starts a foreground daemon that Cleanup stops (SIGTERM, then SIGKILL).
func (c *cluster) daemon(name string, args ...string) {
	c.t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = c.env
	out, err := os.Create(filepath.Join(c.dir, "log", name+".out"))
	if err != nil {
		c.t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	c.logs = append(c.logs, out.Name())
	if err := cmd.Start(); err != nil {
		c.t.Fatalf("starting %s: %v", name, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); out.Close(); close(done) }()
	c.t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
}

func (c *cluster) cmd(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Env = c.env
	return cmd
}

func (c *cluster) run(name string, args ...string) string {
	c.t.Helper()
	out, err := c.cmd(name, args...).CombinedOutput()
	if err != nil {
		c.t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// waitFor polls cond for up to two minutes; on timeout it prints the daemons' logs.
func (c *cluster) waitFor(what string, cond func() bool) {
	c.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			c.dumpLogs()
			c.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (c *cluster) dumpLogs() {
	for _, l := range c.logs {
		if b, err := os.ReadFile(l); err == nil {
			if len(b) > 4000 {
				b = b[len(b)-4000:]
			}
			c.t.Logf("== %s\n%s", l, b)
		}
	}
}

// waitJob waits until Slurm no longer lists job id.
func (c *cluster) waitJob(id string) {
	c.t.Helper()
	c.waitFor("job "+id+" to end", func() bool {
		out, err := c.cmd("squeue", "-h", "-j", id, "-o", "%i").Output()
		return err == nil && strings.TrimSpace(string(out)) == ""
	})
}

// writeBigGGUF writes an F32 llama-named GGUF of n tensors of rows x cols, big enough
// that quantizing it takes a moment.
func writeBigGGUF(t *testing.T, path string, n int, rows, cols int64) {
	t.Helper()
	vals := make([]float32, rows*cols)
	for i := range vals {
		vals[i] = float32(i%1013)*0.01 - 5
	}
	m := &refit.Model{}
	for i := range n {
		x, err := tensor.NewF32(fmt.Sprintf("blk.%d.ffn_down.weight", i), tensor.Shape{rows, cols}, vals)
		if err != nil {
			t.Fatal(err)
		}
		m.Tensors = append(m.Tensors, x)
	}
	m.Metadata.Set("general.architecture", "llama")
	m.Metadata.Set("llama.block_count", uint32(n))
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	bw := bufio.NewWriter(f)
	if err := gguf.Encode(bw, m, nil); err != nil {
		t.Fatal(err)
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

type job struct {
	Cmd  string   `json:"cmd"`
	Args []string `json:"args"`
}

// TestSlurmArrayBatch runs a 9-job model zoo as a 3-task Slurm array with the shipped
// sbatch script, kills task 0 in the middle of its first (slow) job, resubmits, and
// checks that every job finished exactly once with the output a local run gives.
func TestSlurmArrayBatch(t *testing.T) {
	c := startCluster(t)
	refitBin, err := testtool.BuildRefit(c.dir)
	if err != nil {
		t.Fatal(err)
	}
	repo := testtool.RepoRoot()
	models := filepath.Join(repo, "testdata", "models")
	work := filepath.Join(c.dir, "work")
	big := filepath.Join(work, "big-f32.gguf")
	writeBigGGUF(t, big, 24, 2048, 2048) // 400 MB: seconds of Q6_K on one thread
	pt := filepath.Join(models, "mnist", "mnist_cnn.pt")
	llm := filepath.Join(models, "llm", "llama-f16.gguf")
	out := func(name string) string { return filepath.Join(work, "out", name) }
	if err := os.Mkdir(filepath.Join(work, "out"), 0o755); err != nil {
		t.Fatal(err)
	}
	// Jobs 0 and 1 (tasks 0 and 1) are the slow ones; task i owns jobs i, i+3, i+6.
	jobs := []job{
		{"quantize", []string{big, out("big-q6k.gguf"), "--type", "Q6_K", "--threads", "1"}},
		{"quantize", []string{big, out("big-q5k.gguf"), "--type", "Q5_K_M", "--threads", "1"}},
		{"convert", []string{pt, out("mnist-f16.safetensors"), "--dtype", "f16"}},
		{"convert", []string{pt, out("mnist.gguf")}},
		{"quantize", []string{llm, out("llama-q8.gguf"), "--type", "Q8_0"}},
		{"quantize", []string{llm, out("llama-q4km.gguf"), "--type", "Q4_K_M", "--allow-fallback"}},
		{"convert", []string{pt, out("mnist-bf16.safetensors"), "--dtype", "bf16"}},
		{"convert", []string{pt, out("mnist.safetensors")}},
		{"convert", []string{llm, out("llama.safetensors"), "--dtype", "f32"}},
		{"prune", []string{pt, out("mnist-pruned.pt"), "--sparsity", "0.5"}},
	}
	var lines []string
	for _, j := range jobs {
		b, _ := json.Marshal(j)
		lines = append(lines, string(b))
	}
	jobsFile := filepath.Join(work, "jobs.jsonl")
	if err := os.WriteFile(jobsFile, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Reference outputs from local runs of the same commands.
	refDir := filepath.Join(c.dir, "ref")
	if err := os.Mkdir(refDir, 0o755); err != nil {
		t.Fatal(err)
	}
	refs := make([]string, len(jobs))
	for i, j := range jobs {
		args := append([]string(nil), j.Args...)
		for k, a := range args {
			if strings.HasPrefix(a, out("")) {
				refs[i] = filepath.Join(refDir, filepath.Base(a))
				args[k] = refs[i]
			}
		}
		cmd := exec.Command(refitBin, append([]string{j.Cmd}, args...)...)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("local %s %v: %v\n%s", j.Cmd, args, err, b)
		}
	}
	script := filepath.Join(repo, "deploy", "slurm", "refit-array.sbatch")
	submit := func() string {
		return c.run("sbatch", "--parsable", "--array=0-2", "--chdir="+work,
			"--output="+filepath.Join(work, "task-%A_%a.log"), "--export=ALL,REFIT="+refitBin, script, jobsFile)
	}

	// First run: while jobs 0 and 1 write their outputs, kill task 0's refit process
	// with SIGKILL (a crash: no clean-up) and cancel task 1 with scancel (SIGTERM:
	// refit removes its temporary file and exits 143).
	first := submit()
	tmpOf := func(i int) string {
		return filepath.Join(work, "out", refit.TempPrefix+"*-"+filepath.Base(jobs[i].Args[1]))
	}
	// One at a time: job 0 writes for about a second now, so waiting for both
	// temporary files at once could miss the window when Slurm starts task 1 later.
	var crashed string
	c.waitFor("job 0 to be writing its output", func() bool {
		m0, _ := filepath.Glob(tmpOf(0))
		if len(m0) > 0 {
			crashed = m0[0]
		}
		return len(m0) > 0
	})
	// The temporary file is named .refit-tmp-PID-SEQ-NAME after its writer.
	var pid int
	if _, err := fmt.Sscanf(strings.TrimPrefix(filepath.Base(crashed), refit.TempPrefix), "%d-", &pid); err != nil || pid <= 0 {
		t.Fatalf("no PID in %s: %v", crashed, err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 %d: %v", pid, err)
	}
	c.waitFor("job 1 to be writing its output", func() bool {
		m1, _ := filepath.Glob(tmpOf(1))
		return len(m1) > 0
	})
	c.run("scancel", first+"_1")
	c.waitJob(first)
	manifest := func(i int) string { return jobs[i].Args[1] + ".refit.json" }
	done1 := map[int][]byte{}
	for i := range jobs {
		b, err := os.ReadFile(manifest(i))
		switch {
		case err == nil:
			done1[i] = b
		case i%3 == 2:
			c.dumpLogs()
			t.Fatalf("after the first run, job %d (task 2, not killed) has no manifest: %v", i, err)
		}
	}
	for _, i := range []int{0, 1} {
		if _, ok := done1[i]; ok {
			t.Fatalf("job %d finished before it was killed; the test needs a slower job", i)
		}
		if _, err := os.Stat(jobs[i].Args[1]); err == nil {
			t.Errorf("killed job %d left an output", i)
		}
	}
	if m, _ := filepath.Glob(tmpOf(1)); len(m) > 0 {
		t.Errorf("scancel: refit left its temporary file %v", m)
	}
	if _, err := os.Stat(crashed); err != nil {
		t.Logf("note: the crashed job's temporary file is gone already: %v", err)
	}

	// Resubmit: only the missing jobs run.
	second := submit()
	c.waitJob(second)
	for i := range jobs {
		b, err := os.ReadFile(manifest(i))
		if err != nil {
			c.dumpLogs()
			t.Fatalf("job %d has no manifest after the resubmission: %v", i, err)
		}
		if prev, ok := done1[i]; ok && !bytes.Equal(prev, b) {
			t.Errorf("job %d ran twice (its manifest changed)", i)
		}
		var m struct {
			Job int `json:"job"`
		}
		if err := json.Unmarshal(b, &m); err != nil || m.Job != i {
			t.Errorf("manifest of job %d: job %d, %v", i, m.Job, err)
		}
		got, err := os.ReadFile(jobs[i].Args[1])
		if err != nil {
			t.Fatal(err)
		}
		if want, _ := os.ReadFile(refs[i]); !bytes.Equal(got, want) {
			t.Errorf("job %d: the Slurm output differs from the local run's", i)
		}
	}
	if m, _ := filepath.Glob(filepath.Join(work, "out", refit.TempPrefix+"*")); len(m) > 0 {
		t.Errorf("temporary files left: %v", m)
	}
	// The summary agrees: every job done, none missing.
	var sum struct {
		Done, Missing, Stale int
	}
	cmd := exec.CommandContext(context.Background(), refitBin, "batch", "summary", "--json", jobsFile)
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("refit batch summary: %v", err)
	}
	if err := json.Unmarshal(b, &sum); err != nil || sum.Done != len(jobs) || sum.Missing+sum.Stale != 0 {
		t.Errorf("summary: %+v, %v", sum, err)
	}
	// Each task of the resubmission reported its share done without failures.
	for task := range 3 {
		log, err := os.ReadFile(filepath.Join(work, fmt.Sprintf("task-%s_%d.log", second, task)))
		if err != nil {
			t.Fatal(err)
		}
		owned := (len(jobs) - task + 2) / 3
		if !bytes.Contains(log, []byte(fmt.Sprintf("shard %d/3: %d jobs:", task, owned))) || !bytes.Contains(log, []byte(" 0 failed")) {
			t.Errorf("task %d of the resubmission:\n%s", task, log)
		}
	}

	// One model over three machines: a 3-task array of quantize --shard jobs, then
	// gguf-concat as a job that depends on it, gives the local run's bytes.
	var parts []string
	lines = nil
	for i := range 3 {
		part := filepath.Join(work, "parts", fmt.Sprintf("big-q6k.part%d", i))
		parts = append(parts, part)
		b, _ := json.Marshal(job{"quantize", []string{big, part, "--type", "Q6_K", "--shard", fmt.Sprintf("%d/3", i), "--threads", "1"}})
		lines = append(lines, string(b))
	}
	if err := os.Mkdir(filepath.Join(work, "parts"), 0o755); err != nil {
		t.Fatal(err)
	}
	partsJobs := filepath.Join(work, "parts.jsonl")
	if err := os.WriteFile(partsJobs, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	array := c.run("sbatch", "--parsable", "--array=0-2", "--chdir="+work,
		"--output="+filepath.Join(work, "parts-%A_%a.log"), "--export=ALL,REFIT="+refitBin, script, partsJobs)
	joined := filepath.Join(work, "big-q6k-joined.gguf")
	concat := c.run("sbatch", "--parsable", "--dependency=afterok:"+array, "--chdir="+work,
		"--output="+filepath.Join(work, "concat-%j.log"),
		"--wrap", refitBin+" gguf-concat "+strings.Join(parts, " ")+" "+joined)
	c.waitJob(array)
	c.waitJob(concat)
	got, err := os.ReadFile(joined)
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(work, "concat-"+concat+".log"))
		c.dumpLogs()
		t.Fatalf("the concat job wrote nothing: %v\n%s", err, log)
	}
	if want, _ := os.ReadFile(refs[0]); !bytes.Equal(got, want) {
		t.Errorf("the file joined from 3 Slurm tasks' parts differs from the local Q6_K run")
	}
}
