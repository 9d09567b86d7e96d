package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/refit-ml/refit"
)

func init() { commands = append(commands, newBatchCmd) }

const batchLong = `Batch runs the commands listed in JOBS.jsonl, one JSON object a line:

  {"cmd": "convert", "args": ["in.pt", "out.safetensors", "--dtype", "f16"]}
  {"cmd": "quantize", "args": ["llama.gguf", "llama-q4.gguf", "--type", "Q4_K_M"], "inputs": ["llama.imatrix"]}

"cmd" is one of convert, quantize, prune, optimize, distill, gguf-concat; "args" are its
arguments as on the command line. The output is OUT (the last argument; distill's
--out); the inputs are the other arguments that are not flags, plus the optional
"inputs" list (files named in flags, such as --imatrix). Paths are relative to the
working directory; s3:// and https:// inputs and s3:// outputs work as in the
commands themselves (the manifest is then the object OUT.refit.json). Blank lines and lines starting with # are skipped. Jobs are
numbered from 0 in file order. Jobs are independent: shards run in any order, so a
job that reads another's output belongs in a later batch.

Each job runs in this process as "refit CMD ARGS --json". When it succeeds,
OUT.refit.json is written beside OUT (atomically, after OUT is in place): the
command, the SHA-256 of every input and output file, the Refit version, the host,
the time taken and the figures of the command's JSON result. A job whose manifest
still matches (same command and arguments, inputs and output with the recorded
hashes) is skipped, so a rerun only does what is missing or changed. A job killed
mid-way leaves neither output nor manifest (outputs are written to temporary files
and renamed into place) and is redone; an output without a matching manifest is
overwritten.

Sharding: job i runs in shard i mod N. The shard comes from --shard INDEX/COUNT,
else from a Slurm array task (SLURM_ARRAY_TASK_ID minus SLURM_ARRAY_TASK_MIN,
divided by SLURM_ARRAY_TASK_STEP; count SLURM_ARRAY_TASK_COUNT), else from a
Kubernetes Indexed Job (JOB_COMPLETION_INDEX; count from --shards or REFIT_SHARDS),
else the process runs every job. --shards N overrides the count.

A failed job does not stop the others unless --fail-fast is given. Ctrl-C stops the
running job (its temporary files removed) and starts no more.

Exit codes: 0 every job of the shard done or skipped; 1 at least one job failed;
64 a bad jobs file or flags; 130/143 stopped by SIGINT/SIGTERM.

"refit batch summary DIR|JOBS.jsonl" merges the manifests into one table.`

// batchCommands are the commands a batch may run, each with how its output is named.
var batchCommands = map[string]string{
	"convert":     "",
	"gguf-concat": "",
	"quantize":    "",
	"prune":       "",
	"optimize":    "",
	"distill":     "out", // the --out flag
}

// batchJob is one line of a jobs file.
type batchJob struct {
	Cmd    string   `json:"cmd"`
	Args   []string `json:"args"`
	Inputs []string `json:"inputs,omitempty"` // extra input files to hash (files named in flags)

	Index  int    `json:"-"` // 0-based job number
	Line   int    `json:"-"` // line in the jobs file
	Output string `json:"-"`
	hasFlg map[string]bool
}

type batchOptions struct {
	shard     string
	shards    int
	failFast  bool
	dryRun    bool
	asJSON    bool
	getenv    func(string) string // os.Getenv; tests replace it
	hostname  func() (string, error)
	extraArgs []string // global flags handed to every job
}

// batchJobResult is one job's line in batch's report.
type batchJobResult struct {
	Job     int     `json:"job"`
	Line    int     `json:"line"`
	Cmd     string  `json:"cmd"`
	Output  string  `json:"output"`
	Status  string  `json:"status"` // done, skipped, failed, pending (--dry-run)
	Exit    int     `json:"exit_code"`
	Seconds float64 `json:"seconds"`
	Note    string  `json:"note,omitempty"`
}

type batchReport struct {
	Shard   string           `json:"shard"`
	Source  string           `json:"shard_source,omitempty"`
	Jobs    []batchJobResult `json:"jobs"`
	Done    int              `json:"done"`
	Skipped int              `json:"skipped"`
	Failed  int              `json:"failed"`
	Pending int              `json:"pending,omitempty"` // --dry-run: jobs that would run
}

func newBatchCmd(e *env) *cobra.Command {
	o := batchOptions{getenv: os.Getenv, hostname: os.Hostname}
	cmd := &cobra.Command{
		Use:   "batch JOBS.jsonl",
		Short: "Run a list of convert/quantize/prune jobs, or this shard's share of it, with resumable manifests",
		Long:  batchLong,
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			if t := cmd.Flag("threads"); t != nil && t.Changed {
				o.extraArgs = append(o.extraArgs, "--threads="+t.Value.String())
			}
			if m := cmd.Flag("max-memory"); m != nil && m.Changed {
				v := "unlimited" // exact bytes, not the rounded String form
				if e.maxMemory >= 0 {
					v = fmt.Sprint(int64(e.maxMemory))
				}
				o.extraArgs = append(o.extraArgs, "--max-memory="+v)
			}
			return runBatch(e, cmd.Root(), a[0], &o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.shard, "shard", "", "run only the jobs of shard INDEX/COUNT (job i runs in shard i mod COUNT)")
	f.IntVar(&o.shards, "shards", 0, "the shard count, for a Kubernetes Indexed Job (or to override the scheduler's)")
	f.BoolVar(&o.failFast, "fail-fast", false, "stop at the first failed job")
	f.BoolVarP(&o.dryRun, "dry-run", "n", false, "list this shard's jobs and whether each would run or be skipped")
	f.BoolVar(&o.asJSON, "json", false, "print the report as JSON")
	cmd.AddCommand(newBatchSummaryCmd(e))
	return cmd
}

// readJobs parses a jobs file and works out each job's output and inputs with the
// named command's own flag parser (root is the command tree, for its flags).
func readJobs(name string, root *cobra.Command) ([]*batchJob, error) {
	f, err := refit.OpenFile(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var jobs []*batchJob
	sc := bufio.NewScanner(io.NewSectionReader(f, 0, f.Size()))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		j := &batchJob{Index: len(jobs), Line: line}
		dec := json.NewDecoder(strings.NewReader(text))
		dec.DisallowUnknownFields()
		if err := dec.Decode(j); err != nil {
			return nil, usageError{fmt.Errorf("%s:%d: %v", name, line, err)}
		}
		if dec.More() {
			return nil, usageError{fmt.Errorf("%s:%d: one JSON object a line", name, line)}
		}
		if err := j.resolve(root); err != nil {
			return nil, usageError{fmt.Errorf("%s:%d: %v", name, line, err)}
		}
		jobs = append(jobs, j)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(jobs) == 0 {
		return nil, usageError{fmt.Errorf("%s holds no jobs (one JSON object a line; blank lines and # comments are skipped)", name)}
	}
	return jobs, nil
}

// resolve finds the job's output and inputs by parsing its arguments with the
// command's flag set (so a flag's value is never taken for a path).
func (j *batchJob) resolve(root *cobra.Command) error {
	outFlag, ok := batchCommands[j.Cmd]
	if !ok {
		return fmt.Errorf("cmd %q: a batch runs %s", j.Cmd, strings.Join(sortedKeys(batchCommands), ", "))
	}
	var sub *cobra.Command
	for _, c := range root.Commands() {
		if c.Name() == j.Cmd {
			sub = c
		}
	}
	if sub == nil {
		return fmt.Errorf("cmd %q: no such command", j.Cmd)
	}
	// A parse-only copy of the command's flags (names, shorthands, whether they take a
	// value): parsing it leaves the live command tree's values alone.
	fs := pflag.NewFlagSet(j.Cmd, pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	for _, set := range []*pflag.FlagSet{sub.Flags(), sub.InheritedFlags(), root.PersistentFlags()} {
		mirrorFlags(fs, set)
	}
	if err := fs.Parse(j.Args); err != nil {
		return fmt.Errorf("%s: %v", j.Cmd, err)
	}
	j.hasFlg = map[string]bool{}
	fs.Visit(func(f *pflag.Flag) { j.hasFlg[f.Name] = true })
	pos := fs.Args()
	if outFlag != "" {
		j.Output = fs.Lookup(outFlag).Value.String()
		j.Inputs = append(pos, j.Inputs...)
	} else {
		if len(pos) < 2 {
			return fmt.Errorf("%s needs IN OUT in args", j.Cmd)
		}
		j.Output = pos[len(pos)-1]
		j.Inputs = append(pos[:len(pos)-1:len(pos)-1], j.Inputs...)
	}
	if j.Output == "" {
		return fmt.Errorf("%s: no output", j.Cmd)
	}
	return nil
}

// mirrorFlags adds to dst a flag for each flag of src that dst lacks, with the same
// parsing behaviour but a value of its own that only records the text given.
func mirrorFlags(dst, src *pflag.FlagSet) {
	src.VisitAll(func(f *pflag.Flag) {
		if dst.Lookup(f.Name) != nil {
			return
		}
		nf := &pflag.Flag{Name: f.Name, Usage: f.Usage, NoOptDefVal: f.NoOptDefVal, Value: &textValue{typ: f.Value.Type()}}
		if f.Shorthand != "" && dst.ShorthandLookup(f.Shorthand) == nil {
			nf.Shorthand = f.Shorthand
		}
		dst.AddFlag(nf)
	})
}

// textValue is a pflag.Value that keeps the last text set.
type textValue struct{ text, typ string }

func (v *textValue) String() string     { return v.text }
func (v *textValue) Set(s string) error { v.text = s; return nil }
func (v *textValue) Type() string       { return v.typ }

func sortedKeys(m map[string]string) []string {
	return slices.Sorted(maps.Keys(m))
}

func runBatch(e *env, root *cobra.Command, jobsFile string, o *batchOptions) error {
	sel, err := selectShard(o.shard, o.shards, o.getenv)
	if err != nil {
		return usageError{err}
	}
	jobs, err := readJobs(jobsFile, root)
	if err != nil {
		return err
	}
	seen := map[string]int{}
	for _, j := range jobs {
		if prev, dup := seen[j.Output]; dup {
			return usageError{fmt.Errorf("%s:%d: output %s is also job %d's", jobsFile, j.Line, j.Output, prev)}
		}
		seen[j.Output] = j.Index
	}
	host, _ := o.hostname()
	rep := &batchReport{Shard: sel.String(), Source: sel.Source}
	for _, j := range jobs {
		if !sel.owns(j.Index) {
			continue
		}
		if err := e.ctx.Err(); err != nil {
			return err
		}
		r := runBatchJob(e, j, sel, host, o)
		if err := e.ctx.Err(); err != nil {
			return err // Main reports the signal
		}
		switch r.Status {
		case "done":
			rep.Done++
		case "skipped":
			rep.Skipped++
		case "failed":
			rep.Failed++
		case "pending":
			rep.Pending++
		}
		rep.Jobs = append(rep.Jobs, r)
		if !o.asJSON {
			printBatchJob(e.stdout, r)
		}
		if r.Status == "failed" && o.failFast {
			break
		}
	}
	if o.asJSON {
		if err := writeJSON(e.stdout, rep); err != nil {
			return err
		}
	} else {
		if o.dryRun {
			fmt.Fprintf(e.stdout, "shard %s: %d jobs: %d would run, %d skipped\n", rep.Shard, len(rep.Jobs), rep.Pending, rep.Skipped)
		} else {
			fmt.Fprintf(e.stdout, "shard %s: %d jobs: %d done, %d skipped, %d failed\n", rep.Shard, len(rep.Jobs), rep.Done, rep.Skipped, rep.Failed)
		}
	}
	if rep.Failed > 0 {
		return silentExit(ExitFailure)
	}
	return nil
}

func printBatchJob(w io.Writer, r batchJobResult) {
	msg := r.Status
	switch r.Status {
	case "done":
		msg = fmt.Sprintf("done in %.1fs", r.Seconds)
	case "failed":
		msg = fmt.Sprintf("FAILED (exit %d)", r.Exit)
	}
	if r.Note != "" {
		msg += ": " + r.Note
	}
	fmt.Fprintf(w, "job %d %s %s: %s\n", r.Job, r.Cmd, r.Output, msg)
}

// outputExists reports whether something (a file, a folder, a link, an object) is at out.
func outputExists(out string) bool {
	if refit.IsRemote(out) {
		_, err := refit.StatPath(out)
		return err == nil
	}
	_, err := os.Lstat(out)
	return err == nil
}

// runBatchJob skips j if its manifest matches, else runs it and writes the manifest.
func runBatchJob(e *env, j *batchJob, sel shardSel, host string, o *batchOptions) batchJobResult {
	r := batchJobResult{Job: j.Index, Line: j.Line, Cmd: j.Cmd, Output: j.Output}
	fail := func(err error) batchJobResult {
		r.Status, r.Exit, r.Note = "failed", ExitFailure, err.Error()
		printError(e.stderr, fmt.Errorf("job %d (line %d): %w", j.Index, j.Line, err))
		return r
	}
	m, err := readManifest(j.Output)
	if err != nil {
		r.Note = fmt.Sprintf("manifest unreadable (%v), redoing", err)
	}
	if m != nil {
		ok, why, err := manifestMatches(e.ctx, m, j)
		if err != nil {
			return fail(err)
		}
		if ok {
			r.Status, r.Note = "skipped", "manifest matches"
			return r
		}
		r.Note = why + ", redoing"
	}
	if o.dryRun {
		r.Status, r.Note = "pending", strings.TrimSuffix(r.Note, ", redoing")
		return r
	}
	start := time.Now()
	inputs, err := hashPaths(e.ctx, j.Inputs)
	if err != nil {
		return fail(err)
	}
	argv := []string{j.Cmd, "--json"}
	argv = append(argv, o.extraArgs...)
	// An output without a matching manifest is an unfinished or stale result of this job.
	if outputExists(j.Output) && !j.hasFlg["force"] {
		argv = append(argv, "--force")
	}
	argv = append(argv, j.Args...)
	var stdout bytes.Buffer
	code := runNested(e.ctx, argv, strings.NewReader(""), &stdout, e.stderr)
	r.Seconds = time.Since(start).Seconds()
	if code != ExitOK {
		r.Status, r.Exit = "failed", code
		return r
	}
	outputs, err := hashPath(e.ctx, j.Output)
	if err != nil {
		return fail(fmt.Errorf("the command succeeded but its output: %w", err))
	}
	r.Seconds = time.Since(start).Seconds()
	man := &batchManifest{
		Version: manifestVersion, Cmd: j.Cmd, Args: j.Args, Job: j.Index, Shard: sel.String(),
		Refit: strings.ReplaceAll(version(), "\n", "; "), Host: host, Finished: time.Now().UTC().Format(time.RFC3339),
		Seconds: r.Seconds, Inputs: inputs, Output: j.Output, Outputs: outputs,
		Figures: jobFigures(stdout.Bytes()),
	}
	if err := writeManifest(man); err != nil {
		return fail(fmt.Errorf("writing the manifest: %w", err))
	}
	r.Status = "done"
	return r
}
