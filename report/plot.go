package report

import (
	"bytes"
	"fmt"
	"html/template"
	"image/color"
	"math"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Plot size in points: wide enough for a few hundred tensors along the x axis.
const (
	plotWidth  = 9 * vg.Inch
	plotHeight = 3 * vg.Inch
)

// colors is a qualitative palette (Okabe-Ito, readable by colour-blind readers);
// series and groups take colours in order.
var colors = []color.RGBA{
	{0x00, 0x72, 0xB2, 0xff}, // blue
	{0xD5, 0x5E, 0x00, 0xff}, // vermillion
	{0x00, 0x9E, 0x73, 0xff}, // green
	{0xCC, 0x79, 0xA7, 0xff}, // purple
	{0xE6, 0x9F, 0x00, 0xff}, // orange
	{0x56, 0xB4, 0xE9, 0xff}, // sky blue
	{0xF0, 0xE4, 0x42, 0xff}, // yellow
	{0x00, 0x00, 0x00, 0xff}, // black
}

func colorAt(i int) color.RGBA {
	c := colors[i%len(colors)]
	if i >= len(colors) { // a lighter shade on the second round
		c.R, c.G, c.B = c.R/2+0x60, c.G/2+0x60, c.B/2+0x60
	}
	return c
}

// Series is one line (or set of points) of a plot.
type Series struct {
	Name   string
	X, Y   []float64
	Dashed bool // Line: a dashed line without points (a target, a reference)
}

// Axes names a plot's axes and its scale.
type Axes struct {
	X, Y string
	LogY bool // log10 y axis; values <= 0 are left out
	// YMin and YMax fix the y range when YMax > YMin.
	YMin, YMax float64
}

// newPlot makes a plot with the report's sans-serif fonts.
func newPlot(ax Axes) *plot.Plot {
	p := plot.New()
	sans := font.Font{Typeface: "Liberation", Variant: "Sans"}
	for _, ts := range []*font.Font{&p.Title.TextStyle.Font, &p.X.Label.TextStyle.Font, &p.Y.Label.TextStyle.Font,
		&p.X.Tick.Label.Font, &p.Y.Tick.Label.Font, &p.Legend.TextStyle.Font} {
		size := ts.Size
		*ts = sans
		ts.Size = size
	}
	p.X.Label.Text, p.Y.Label.Text = ax.X, ax.Y
	if ax.LogY {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	}
	if ax.YMax > ax.YMin {
		p.Y.Min, p.Y.Max = ax.YMin, ax.YMax
	}
	p.Legend.Top = true
	p.Add(plotter.NewGrid())
	return p
}

// Line plots series as lines with a point at each value (points alone over 400 values).
func Line(title, caption string, ax Axes, series ...Series) (Plot, error) {
	if ax.LogY && decades(series) < 1 {
		// gonum labels only powers of ten: within one decade a log axis would have
		// no labels, and a linear one shows the same shape.
		ax.LogY = false
	}
	p := newPlot(ax)
	for i, s := range series {
		xys := points(s, ax.LogY)
		if len(xys) == 0 {
			continue
		}
		c := colorAt(i)
		if len(xys) <= 400 || s.Dashed {
			l, err := plotter.NewLine(xys)
			if err != nil {
				return Plot{}, fmt.Errorf("report: %s: %w", title, err)
			}
			l.Color, l.Width = c, vg.Points(1.2)
			if s.Dashed {
				l.Dashes = []vg.Length{vg.Points(6), vg.Points(4)}
				p.Add(l)
				if s.Name != "" {
					p.Legend.Add(s.Name, l)
				}
				continue
			}
			p.Add(l)
		}
		sc, err := plotter.NewScatter(xys)
		if err != nil {
			return Plot{}, fmt.Errorf("report: %s: %w", title, err)
		}
		sc.GlyphStyle = draw.GlyphStyle{Color: c, Radius: vg.Points(1.8), Shape: draw.CircleGlyph{}}
		p.Add(sc)
		if s.Name != "" {
			p.Legend.Add(s.Name, sc)
		}
	}
	legendRoom(p, ax, len(series))
	return render(p, title, caption)
}

// decades is how many powers of ten the positive values of series span.
func decades(series []Series) float64 {
	lo, hi := math.Inf(1), 0.0
	for _, s := range series {
		for _, xy := range points(s, true) {
			lo, hi = math.Min(lo, xy.Y), math.Max(hi, xy.Y)
		}
	}
	if hi == 0 {
		return 0
	}
	return math.Log10(hi / lo)
}

// points keeps the finite values of s (positive ones on a log axis).
func points(s Series, logY bool) plotter.XYs {
	var xys plotter.XYs
	for i := range min(len(s.X), len(s.Y)) {
		x, y := s.X[i], s.Y[i]
		if math.IsNaN(x) || math.IsInf(x, 0) || math.IsNaN(y) || math.IsInf(y, 0) || (logY && y <= 0) {
			continue
		}
		xys = append(xys, plotter.XY{X: x, Y: y})
	}
	return xys
}

// Bars plots one bar per value at x = 0, 1, ..., coloured by its group (a legend
// names the groups in order of first appearance). labels name the bars on the x
// axis when there are at most 40 of them. Bars start at 0, so the y axis is linear
// whatever ax.LogY says.
func Bars(title, caption string, ax Axes, labels []string, values []float64, groups []string) (Plot, error) {
	ax.LogY = false
	p := newPlot(ax)
	var order []string
	seen := map[string]bool{}
	for _, g := range groups {
		if !seen[g] {
			seen[g] = true
			order = append(order, g)
		}
	}
	if len(groups) != len(values) {
		order = []string{""}
	}
	width := barWidth(len(values))
	for gi, g := range order {
		vs := make(plotter.Values, len(values))
		for i, v := range values {
			if (len(groups) != len(values) || groups[i] == g) && !math.IsNaN(v) && !math.IsInf(v, 0) {
				vs[i] = v
			}
		}
		b, err := plotter.NewBarChart(vs, width)
		if err != nil {
			return Plot{}, fmt.Errorf("report: %s: %w", title, err)
		}
		b.Color = colorAt(gi)
		b.LineStyle.Width = 0
		p.Add(b)
		if g != "" {
			p.Legend.Add(g, b)
		}
	}
	nominal(p, labels, len(values))
	if len(order) > 1 || (len(order) == 1 && order[0] != "") {
		legendRoom(p, ax, len(order))
	}
	return render(p, title, caption)
}

// GroupedBars plots, for each category, one bar per series side by side, on a linear
// y axis (as Bars).
func GroupedBars(title, caption string, ax Axes, categories []string, series ...Series) (Plot, error) {
	ax.LogY = false
	p := newPlot(ax)
	n := len(series)
	width := barWidth(len(categories)*n) * 0.9
	for i, s := range series {
		if len(categories) == 0 {
			break
		}
		vs := make(plotter.Values, len(categories))
		for j := range vs {
			if j < len(s.Y) && !math.IsNaN(s.Y[j]) && !math.IsInf(s.Y[j], 0) {
				vs[j] = s.Y[j]
			}
		}
		b, err := plotter.NewBarChart(vs, width)
		if err != nil {
			return Plot{}, fmt.Errorf("report: %s: %w", title, err)
		}
		b.Color = colorAt(i)
		b.LineStyle.Width = 0
		b.Offset = width * vg.Length(float64(i)-float64(n-1)/2)
		p.Add(b)
		p.Legend.Add(s.Name, b)
	}
	nominal(p, categories, len(categories))
	legendRoom(p, ax, len(series))
	return render(p, title, caption)
}

// Bin is one histogram bar: count values in [Lo, Hi).
type Bin struct {
	Lo, Hi float64
	Count  float64
}

// Histogram plots pre-counted bins.
func Histogram(title, caption string, ax Axes, bins []Bin) (Plot, error) {
	p := newPlot(ax)
	h := &plotter.Histogram{FillColor: colorAt(0)}
	h.LineStyle.Width = vg.Points(0.5)
	h.LineStyle.Color = color.White
	for _, b := range bins {
		h.Bins = append(h.Bins, plotter.HistogramBin{Min: b.Lo, Max: b.Hi, Weight: b.Count})
	}
	if len(bins) > 0 {
		h.Width = bins[0].Hi - bins[0].Lo
		p.Add(h)
	}
	return render(p, title, caption)
}

func barWidth(n int) vg.Length {
	w := (plotWidth - vg.Inch) / vg.Length(max(n, 1)) * 0.8
	return min(max(w, vg.Points(0.5)), vg.Points(40))
}

// nominal names the x positions when there are few enough to read, and leaves half
// a position of room at both ends so the outer bars are whole.
func nominal(p *plot.Plot, labels []string, n int) {
	p.X.Min, p.X.Max = -0.5, float64(n)-0.5
	if len(labels) == 0 || len(labels) > 40 {
		return
	}
	short := make([]string, len(labels))
	for i, l := range labels {
		short[i] = shorten(l, 24)
	}
	p.NominalX(short...)
	if len(labels) > 8 {
		p.X.Tick.Label.Rotation = math.Pi / 4
		p.X.Tick.Label.XAlign = draw.XRight
		p.X.Tick.Label.YAlign = draw.YCenter
	}
}

// shorten keeps the end of a long name, the part that tells tensors apart.
func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return "…" + string(r[len(r)-n+1:])
}

// legendRoom raises the top of the y range so the legend, drawn at the top
// right, sits above the data rather than on it.
func legendRoom(p *plot.Plot, ax Axes, entries int) {
	if entries == 0 || !(p.Y.Max > p.Y.Min) {
		return
	}
	share := 0.08 * float64(entries+1) // of the height, per legend line
	if ax.LogY && p.Y.Min > 0 {
		p.Y.Max *= math.Pow(p.Y.Max/p.Y.Min, share)
		return
	}
	p.Y.Max += share * (p.Y.Max - p.Y.Min)
}

// render draws p as SVG without the XML prolog, for inline use.
func render(p *plot.Plot, title, caption string) (Plot, error) {
	c := vgsvg.New(plotWidth, plotHeight)
	p.Draw(draw.New(c))
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return Plot{}, fmt.Errorf("report: %s: %w", title, err)
	}
	svg := buf.String()
	if i := strings.Index(svg, "<svg"); i > 0 {
		svg = svg[i:]
	}
	// Trusted: drawn here, and vgsvg escapes every text it writes.
	return Plot{Title: title, Caption: caption, SVG: template.HTML(svg)}, nil
}
