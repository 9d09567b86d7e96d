package cli

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/onnx"
	"github.com/refit-ml/refit/tensor"
)

func init() { commands = append(commands, newInspectCmd) }

type tensorRow struct {
	Name  string       `json:"name"`
	DType string       `json:"dtype"`
	Shape tensor.Shape `json:"shape"`
	Bytes int64        `json:"bytes"`
}

type inspectResult struct {
	Path       string           `json:"path"`
	Format     string           `json:"format"`
	Tensors    []tensorRow      `json:"tensors"`
	DTypes     map[string]int64 `json:"dtype_params"`
	Parameters int64            `json:"parameters"`
	Bytes      int64            `json:"tensor_bytes"`
	Metadata   map[string]any   `json:"metadata"`
	MetaKeys   []string         `json:"-"`
	Graph      *onnx.Summary    `json:"graph,omitempty"`
	// Remote counts the requests and bytes it took to read a remote model's headers.
	Remote *refit.RemoteStats `json:"remote,omitempty"`
}

func newInspectCmd(e *env) *cobra.Command {
	var asJSON, all bool
	var key string
	var extract bool
	cmd := &cobra.Command{
		Use:   "inspect FILE|DIR",
		Short: "Show a model's format, tensors, dtypes, parameter count and metadata (reads headers only)",
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			m, err := refit.OpenWith(a[0], &refit.DecodeOptions{Key: key, Extract: extract, MaxMemory: int64(e.maxMemory)})
			if err != nil {
				return err
			}
			defer m.Close()
			r := summarize(a[0], m)
			if refit.IsRemote(a[0]) {
				stats := refit.ReadRemoteStats()
				r.Remote = &stats
			}
			if asJSON {
				return writeJSON(e.stdout, r)
			}
			printInspect(e, r, all)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().BoolVar(&all, "all", false, "list every tensor (default: first 50)")
	cmd.Flags().StringVar(&key, "key", "", "select a sub-tree of a nested checkpoint (dotted)")
	cmd.Flags().BoolVar(&extract, "extract", false, "read full-model pickles and TorchScript archives as inert data")
	return cmd
}

func summarize(path string, m *refit.Model) *inspectResult {
	r := &inspectResult{Path: path, Format: m.Format, DTypes: map[string]int64{}, Metadata: map[string]any{}, Tensors: []tensorRow{}}
	for _, t := range m.Tensors {
		n := t.NumElements()
		r.Tensors = append(r.Tensors, tensorRow{t.Name, t.DType.String(), t.Shape, t.Size()})
		r.DTypes[t.DType.String()] += n
		r.Parameters += n
		r.Bytes += t.Size()
	}
	if src, ok := m.Source.(*onnx.Source); ok {
		r.Graph = onnx.Summarize(src.Proto())
	}
	r.MetaKeys = m.Metadata.Keys()
	for _, k := range r.MetaKeys {
		v, _ := m.Metadata.Get(k)
		r.Metadata[k] = v
	}
	return r
}

func printInspect(e *env, r *inspectResult, all bool) {
	w := e.stdout
	fmt.Fprintf(w, "%s: %s, %d tensors, %s parameters, %s\n", r.Path, r.Format, len(r.Tensors), humanCount(r.Parameters), humanBytes(r.Bytes))
	if r.Remote != nil {
		fmt.Fprintf(e.stderr, "remote: %d requests, %s read\n", r.Remote.Requests, humanBytes(r.Remote.BytesRead))
	}
	types := make([]string, 0, len(r.DTypes))
	for k := range r.DTypes {
		types = append(types, k)
	}
	slices.Sort(types)
	var parts []string
	for _, k := range types {
		parts = append(parts, fmt.Sprintf("%s %s", k, humanCount(r.DTypes[k])))
	}
	if len(parts) > 0 {
		fmt.Fprintf(w, "dtypes: %s\n", strings.Join(parts, ", "))
	}
	if len(r.MetaKeys) > 0 {
		fmt.Fprintf(w, "\nmetadata (%d keys):\n", len(r.MetaKeys))
		for _, k := range r.MetaKeys {
			fmt.Fprintf(w, "  %s = %s\n", k, metaString(r.Metadata[k]))
		}
	}
	if r.Graph != nil {
		printGraph(w, r.Graph)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tDTYPE\tSHAPE\tBYTES")
	for i, t := range r.Tensors {
		if !all && i == 50 {
			fmt.Fprintf(tw, "... %d more (use --all)\t\t\t\n", len(r.Tensors)-50)
			break
		}
		fmt.Fprintf(tw, "%s\t%s\t%v\t%d\n", t.Name, t.DType, t.Shape, t.Bytes)
	}
	tw.Flush()
}

// printGraph shows an ONNX graph's interface, opsets and operator histogram.
func printGraph(w io.Writer, g *onnx.Summary) {
	var opsets []string
	for _, o := range g.Opsets {
		opsets = append(opsets, fmt.Sprintf("%s %d", o.Domain, o.Version))
	}
	fmt.Fprintf(w, "\ngraph %q: IR version %d, producer %s %s, opsets: %s, %d nodes\n",
		g.GraphName, g.IRVersion, g.Producer, g.ProducerVersion, strings.Join(opsets, ", "), g.Nodes)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, v := range g.Inputs {
		fmt.Fprintf(tw, "  input\t%s\t%s\t[%s]\n", v.Name, v.Type, strings.Join(v.Dims, ", "))
	}
	for _, v := range g.Outputs {
		fmt.Fprintf(tw, "  output\t%s\t%s\t[%s]\n", v.Name, v.Type, strings.Join(v.Dims, ", "))
	}
	tw.Flush()
	fmt.Fprintln(w, "operators:")
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, op := range g.Operators {
		name := op.OpType
		if op.Domain != "" && op.Domain != "ai.onnx" {
			name = op.Domain + ":" + op.OpType
		}
		fmt.Fprintf(tw, "  %s\t%d\n", name, op.Count)
	}
	tw.Flush()
}

// metaString shortens long metadata values (token lists) for display; multi-line text
// (the module sources of a legacy full-model pickle) is quoted to stay on one line.
func metaString(v any) string {
	s := fmt.Sprint(v)
	if strings.ContainsAny(s, "\n\r") {
		s = strconv.Quote(s)
	}
	if len(s) > 120 {
		s = s[:117] + "..."
	}
	return s
}
