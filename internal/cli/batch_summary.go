package cli

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/refit-ml/refit"
)

// summaryFigures are the command figures a summary shows, when a job has them.
var summaryFigures = []struct{ key, label string }{
	{"max_abs_error", "max_err"},
	{"min_cosine", "min_cos"},
	{"cosine", "cos"},
	{"plan.bits_per_weight", "bpw"},
}

// summaryRow is one job (or one manifest) in a batch summary.
type summaryRow struct {
	Job      int            `json:"job"` // -1 for a manifest not matched to a jobs file
	Status   string         `json:"status"`
	Cmd      string         `json:"cmd,omitempty"`
	Output   string         `json:"output"`
	Bytes    int64          `json:"bytes"`
	Seconds  float64        `json:"seconds"`
	Shard    string         `json:"shard,omitempty"`
	Host     string         `json:"host,omitempty"`
	Refit    string         `json:"refit_version,omitempty"`
	Finished string         `json:"finished,omitempty"`
	Figures  map[string]any `json:"figures,omitempty"`
	Note     string         `json:"note,omitempty"`
}

type batchSummary struct {
	Jobs    []summaryRow `json:"jobs"`
	Done    int          `json:"done"`
	Missing int          `json:"missing"`
	Stale   int          `json:"stale"`
	Bytes   int64        `json:"bytes"`
	Seconds float64      `json:"seconds"`
}

func newBatchSummaryCmd(e *env) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "summary DIR|JOBS.jsonl",
		Short: "Merge the manifests of a batch into one table",
		Long: `Summary reads the OUT.refit.json manifests that refit batch wrote and prints one
table: each job's status, output size, time, shard, host and figures (errors,
cosine, bits per weight). Given a folder it lists every manifest under it; given a
jobs file it lists every job, "missing" where no manifest exists yet and "stale"
where the manifest is for other arguments. It reads manifests only (no hashing; a
rerun of refit batch checks the hashes).

Exit codes: 0 every job has a manifest; 1 some are missing, stale or unreadable;
64 usage error.`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			s, err := summarizeBatch(a[0], cmd.Root())
			if err != nil {
				return err
			}
			if asJSON {
				err = writeJSON(e.stdout, s)
			} else {
				printSummary(e, s)
			}
			if err == nil && s.Missing+s.Stale > 0 {
				return silentExit(ExitFailure)
			}
			return err
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func summarizeBatch(target string, root *cobra.Command) (*batchSummary, error) {
	st, err := refit.StatPath(target)
	if err != nil {
		return nil, err
	}
	s := &batchSummary{Jobs: []summaryRow{}}
	if st.IsDir() {
		// A local folder, or a folder URL (s3://bucket/prefix/).
		fsys, join := os.DirFS(target), func(name string) string { return filepath.Join(target, name) }
		if refit.IsRemote(target) {
			if fsys, err = refit.RemoteFS(target); err != nil {
				return nil, err
			}
			join = func(name string) string { return strings.TrimSuffix(target, "/") + "/" + name }
		}
		err = fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() || !strings.HasSuffix(d.Name(), manifestSuffix) || strings.HasPrefix(d.Name(), refit.TempPrefix) {
				return nil
			}
			b, err := readSmall(join(name), maxManifest)
			var m *batchManifest
			if err == nil {
				m, err = parseManifest(b)
			}
			if err != nil {
				// One bad manifest does not hide the others.
				s.add(summaryRow{Job: -1, Status: "stale", Output: strings.TrimSuffix(join(name), manifestSuffix), Note: err.Error()})
				return nil
			}
			s.add(manifestRow(m))
			return nil
		})
		if err != nil {
			return nil, err
		}
		sort.SliceStable(s.Jobs, func(a, b int) bool { return s.Jobs[a].Output < s.Jobs[b].Output })
		return s, nil
	}
	jobs, err := readJobs(target, root)
	if err != nil {
		return nil, err
	}
	for _, j := range jobs {
		m, err := readManifest(j.Output)
		switch {
		case err != nil:
			s.add(summaryRow{Job: j.Index, Status: "stale", Cmd: j.Cmd, Output: j.Output, Note: err.Error()})
		case m == nil:
			s.add(summaryRow{Job: j.Index, Status: "missing", Cmd: j.Cmd, Output: j.Output})
		default:
			r := manifestRow(m)
			r.Job = j.Index
			if m.Cmd != j.Cmd || !slices.Equal(m.Args, j.Args) {
				r.Status, r.Note = "stale", "the manifest is for other arguments"
			}
			s.add(r)
		}
	}
	return s, nil
}

func manifestRow(m *batchManifest) summaryRow {
	r := summaryRow{Job: m.Job, Status: "done", Cmd: m.Cmd, Output: m.Output, Seconds: m.Seconds,
		Shard: m.Shard, Host: m.Host, Refit: m.Refit, Finished: m.Finished, Figures: m.Figures}
	for _, h := range m.Outputs {
		r.Bytes += h.Bytes
	}
	return r
}

func (s *batchSummary) add(r summaryRow) {
	s.Jobs = append(s.Jobs, r)
	switch r.Status {
	case "done":
		s.Done++
		s.Bytes += r.Bytes
		s.Seconds += r.Seconds
	case "missing":
		s.Missing++
	case "stale":
		s.Stale++
	}
}

func printSummary(e *env, s *batchSummary) {
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "JOB\tSTATUS\tCMD\tOUTPUT\tBYTES\tSECONDS\tSHARD\tHOST\tFIGURES")
	for _, r := range s.Jobs {
		var figs []string
		for _, f := range summaryFigures {
			if v, ok := r.Figures[f.key]; ok {
				if x, ok := v.(float64); ok {
					v = fmt.Sprintf("%.4g", x)
				}
				figs = append(figs, fmt.Sprintf("%s=%v", f.label, v))
			}
		}
		if r.Note != "" {
			figs = append(figs, r.Note)
		}
		job := fmt.Sprint(r.Job)
		bytes, secs := "-", "-"
		if r.Status == "done" || r.Status == "stale" && r.Finished != "" {
			bytes, secs = humanBytes(r.Bytes), fmt.Sprintf("%.1f", r.Seconds)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", job, r.Status, r.Cmd, r.Output, bytes, secs, r.Shard, r.Host, strings.Join(figs, " "))
	}
	tw.Flush()
	fmt.Fprintf(e.stdout, "%d jobs: %d done, %d missing, %d stale; %s written in %.1fs of job time\n",
		len(s.Jobs), s.Done, s.Missing, s.Stale, humanBytes(s.Bytes), s.Seconds)
}
