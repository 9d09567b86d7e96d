package runtime

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/refit-ml/refit/internal/parallel"
)

// Profile is where a session's Run calls spent their time, per node, summed over
// every Run since the session was made or ResetProfile (Options.Profile turns it
// on). Times are wall time inside each node's kernel, as ONNX Runtime's profiler
// counts them; Run also spends a little time between kernels, in Other. Nodes of
// If/Loop/Scan bodies are listed too, so their time also counts in the node that
// ran the body.
type Profile struct {
	Runs  int           // Run calls recorded
	Total time.Duration // wall time of those Run calls
	Nodes []NodeProfile // one per node that ran, slowest first
}

// NodeProfile is one node's share of a Profile.
type NodeProfile struct {
	Node   string // the node's name, or "output X" for an unnamed node
	OpType string
	Domain string
	Calls  int           // kernel calls (more than Runs inside Loop or Scan bodies)
	Time   time.Duration // summed wall time of those calls
}

// OpTypeProfile is the time of every node of one operator type.
type OpTypeProfile struct {
	OpType string
	Nodes  int // distinct nodes of this type that ran
	Calls  int
	Time   time.Duration
}

// Kernels is the summed time of every node.
func (p *Profile) Kernels() time.Duration {
	var d time.Duration
	for _, n := range p.Nodes {
		d += n.Time
	}
	return d
}

// Other is the time of Run spent outside kernels (binding inputs, releasing values).
func (p *Profile) Other() time.Duration { return max(p.Total-p.Kernels(), 0) }

// ByOpType sums the nodes by operator type, slowest first.
func (p *Profile) ByOpType() []OpTypeProfile {
	idx := map[string]int{}
	var out []OpTypeProfile
	for _, n := range p.Nodes {
		key := n.OpType
		if n.Domain != "" && n.Domain != "ai.onnx" {
			key = n.Domain + "." + n.OpType
		}
		i, ok := idx[key]
		if !ok {
			i = len(out)
			idx[key] = i
			out = append(out, OpTypeProfile{OpType: key})
		}
		out[i].Nodes++
		out[i].Calls += n.Calls
		out[i].Time += n.Time
	}
	slices.SortStableFunc(out, func(a, b OpTypeProfile) int { return cmp.Compare(b.Time, a.Time) })
	return out
}

// WriteTable prints p as two tables: operator types, then the top nodes (all nodes
// when top <= 0), each with calls, total milliseconds and percent of the run time.
func (p *Profile) WriteTable(w io.Writer, top int) error {
	pct := func(d time.Duration) float64 {
		if p.Total <= 0 {
			return 0
		}
		return 100 * float64(d) / float64(p.Total)
	}
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "OP TYPE\tNODES\tCALLS\tTOTAL MS\tMS/RUN\t%%\t\n")
	runs := max(p.Runs, 1)
	for _, o := range p.ByOpType() {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.3f\t%.3f\t%.1f\t\n", o.OpType, o.Nodes, o.Calls, ms(o.Time), ms(o.Time)/float64(runs), pct(o.Time))
	}
	other := p.Other()
	fmt.Fprintf(tw, "(between kernels)\t\t\t%.3f\t%.3f\t%.1f\t\n", ms(other), ms(other)/float64(runs), pct(other))
	fmt.Fprintf(tw, "total (%d runs)\t\t\t%.3f\t%.3f\t100.0\t\n", p.Runs, ms(p.Total), ms(p.Total)/float64(runs))
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	nodes := p.Nodes
	if top > 0 && len(nodes) > top {
		nodes = nodes[:top]
	}
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "NODE\tOP TYPE\tCALLS\tTOTAL MS\tMS/RUN\t%%\n")
	for _, n := range nodes {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%.3f\t%.3f\t%.1f\n", n.Node, n.OpType, n.Calls, ms(n.Time), ms(n.Time)/float64(runs), pct(n.Time))
	}
	if len(nodes) < len(p.Nodes) {
		fmt.Fprintf(tw, "(%d more nodes)\t\t\t\t\t\n", len(p.Nodes)-len(nodes))
	}
	return tw.Flush()
}

// profiler accumulates a session's profile; nil when profiling is off.
type profiler struct {
	mu    sync.Mutex
	runs  int
	total time.Duration
	nodes map[*Node]*NodeProfile
	order []*Node // first-seen order, for stable ties
}

func (p *profiler) node(n *Node, d time.Duration) {
	p.mu.Lock()
	st := p.nodes[n]
	if st == nil {
		name := n.Name
		if name == "" && len(n.Outputs) > 0 {
			name = "output " + n.Outputs[0]
		}
		st = &NodeProfile{Node: name, OpType: n.OpType, Domain: n.Domain}
		p.nodes[n] = st
		p.order = append(p.order, n)
	}
	st.Calls++
	st.Time += d
	p.mu.Unlock()
}

func (p *profiler) run(d time.Duration) {
	p.mu.Lock()
	p.runs++
	p.total += d
	p.mu.Unlock()
}

// Profile returns the per-node times recorded so far, or nil when the session was
// made without Options.Profile.
func (s *Session) Profile() *Profile {
	p := s.prof
	if p == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	out := &Profile{Runs: p.runs, Total: p.total}
	for _, n := range p.order {
		out.Nodes = append(out.Nodes, *p.nodes[n])
	}
	slices.SortStableFunc(out.Nodes, func(a, b NodeProfile) int { return cmp.Compare(b.Time, a.Time) })
	return out
}

// ResetProfile forgets the times recorded so far (for example those of warm-up runs).
func (s *Session) ResetProfile() {
	if p := s.prof; p != nil {
		p.mu.Lock()
		p.runs, p.total = 0, 0
		clear(p.nodes)
		p.order = p.order[:0]
		p.mu.Unlock()
	}
}

// Threads reports how many goroutines one Run uses inside a kernel at most
// (Options.Threads, or GOMAXPROCS when that was 0).
func (s *Session) Threads() int { return parallel.Threads(s.threads) }
