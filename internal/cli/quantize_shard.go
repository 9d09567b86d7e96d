package cli

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"math"
	"os"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/gguf"
	"github.com/refit-ml/refit/quant/plan"
	"github.com/refit-ml/refit/tensor"
)

// A part file holds one machine's share of a GGUF quantization: a contiguous range of
// the output's data section (tensors in output order, each padded to the alignment,
// exactly as gguf.Encode writes them), the GGUF header every part computed alike,
// and a JSON trailer describing the range:
//
//	"REFITPRT" | uint32 version | uint32 0 | uint64 header length | header | data | JSON | uint64 JSON length | "REFITPRT"
//
// (integers little-endian). gguf-concat writes part 0's header and then each part's
// data in part order, which is the single-machine output byte for byte.
const (
	partMagic    = "REFITPRT"
	partVersion  = 1
	partPrefix   = 24 // magic, version, zero, header length
	partSuffix   = 16 // JSON length, magic
	maxPartJSON  = 1 << 20
	maxPartHeadr = 1 << 30 // a GGUF header (vocabulary included) is far smaller
)

// quantPart is a part file's trailer.
type quantPart struct {
	Version      int       `json:"refit_quant_part"`
	Part         int       `json:"part"`
	Parts        int       `json:"parts"`
	Input        string    `json:"input"`
	FileType     string    `json:"file_type"`
	Options      string    `json:"options_sha256"` // the plan's flags and the imatrix, which every part must share
	FileBytes    int64     `json:"file_bytes"`     // the whole GGUF output
	HeaderBytes  int64     `json:"header_bytes"`
	HeaderSHA256 string    `json:"header_sha256"`
	FirstTensor  int       `json:"first_tensor"` // in output order
	Tensors      int       `json:"tensors"`
	AllTensors   int       `json:"all_tensors"`
	DataOffset   int64     `json:"data_offset"` // within the output's data section
	DataBytes    int64     `json:"data_bytes"`
	DataSHA256   string    `json:"data_sha256"`
	Verified     bool      `json:"verified"`
	MaxAbs       jsonFloat `json:"max_abs_error"`
	MinCos       jsonFloat `json:"min_cosine"`
	Dot          float64   `json:"dot"` // the sums behind the overall cosine
	SourceSq     float64   `json:"source_sq"`
	OutputSq     float64   `json:"output_sq"`
	Refit        string    `json:"refit_version"`
	Output       string    `json:"output,omitempty"` // the part file (in --json output only)
}

// partRange returns the tensors [a, b) of part i of n: contiguous runs in output order
// balanced by work (weights quantized; unchanged tensors count an eighth of their
// bytes, for copying). Every machine computes the same ranges from the same plan.
func partRange(p *plan.Plan, i, n int) (a, b int) {
	work := make([]int64, len(p.Tensors))
	var total int64
	for k, e := range p.Tensors {
		w := e.SrcBytes/8 + 1
		if e.Changed() {
			w = e.Params + 1
		}
		work[k] = w
		total += w
	}
	a, b = -1, -1
	var cum int64
	for k, w := range work {
		// The part whose share of the total holds the tensor's middle.
		part := int(min(int64(n-1), (2*cum+w)*int64(n)/(2*total)))
		cum += w
		if part < i {
			continue
		}
		if part > i {
			if a < 0 {
				a = k
			}
			return a, k
		}
		if a < 0 {
			a = k
		}
	}
	if a < 0 {
		a = len(work)
	}
	return a, len(work)
}

// optionsDigest identifies what decides the part's bytes besides the source: the
// plan flags and the importance matrix's bytes.
func optionsDigest(o *ggufQuantOptions) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%q %q %q %v %v %v %v %q %q\n", o.FileType, o.TensorTypes, o.Keep, o.AllowFallback, o.Pure, o.LeaveOutput, o.Requantize, o.OutputType, o.EmbeddingType)
	if o.Imatrix != "" {
		f, err := os.Open(o.Imatrix)
		if err != nil {
			return "", err
		}
		defer f.Close()
		if _, err := io.Copy(h, f); err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// runQuantizeGGUFShard quantizes this machine's share of in (--shard i/N) into the part
// file out. Every shard reads the headers of the whole source and makes the same
// plan and header; only the tensors of its range are read and quantized.
func runQuantizeGGUFShard(e *env, in, out string, o *ggufQuantOptions, eval string) error {
	sel, err := parseShard(o.Shard)
	if err != nil {
		return usageError{err}
	}
	if eval != "" || strings.Contains(o.FileType, ",") {
		return usageError{errors.New("--shard writes one part of one type: --eval and several --type values do not apply")}
	}
	ft, po, err := o.planOptions()
	if err != nil {
		return err
	}
	po.Threads = e.threads
	if !o.DryRun && sameFile(in, out) {
		return usageError{fmt.Errorf("output %s is the input", out)}
	}
	optDigest, err := optionsDigest(o)
	if err != nil {
		return err
	}
	var imatrix map[string][]float32
	if o.Imatrix != "" {
		if imatrix, err = readImatrix(o.Imatrix); err != nil {
			return err
		}
	}
	src, err := openGGUFSource(e, in)
	if err != nil {
		return err
	}
	defer src.Close()
	p, err := plan.New(src, ft, po)
	if err != nil {
		return err
	}
	if err := p.Check(); err != nil {
		return err
	}
	if st, err := os.Stat(in); err == nil && !st.IsDir() {
		if err := unchangedPlan(p); err != nil {
			return fmt.Errorf("%s: %w; nothing written", in, err)
		}
	}
	// The whole output's layout, from the planned (lazy, unread) model.
	whole, err := p.Apply(src, imatrix)
	if err != nil {
		return err
	}
	lay, err := gguf.EncodedLayout(whole, nil)
	if err != nil {
		return err
	}
	if size := int64(len(lay.Header)) + lay.DataSize; size != p.FileBytes {
		return fmt.Errorf("the layout has %d bytes, the plan said %d", size, p.FileBytes)
	}
	a, b := partRange(p, sel.Index, sel.Count)
	part := &quantPart{
		Version: partVersion, Part: sel.Index, Parts: sel.Count, Input: in, FileType: p.FileType, Options: optDigest,
		FileBytes: p.FileBytes, HeaderBytes: int64(len(lay.Header)), FirstTensor: a, Tensors: b - a, AllTensors: len(p.Tensors),
		Refit: strings.ReplaceAll(version(), "\n", "; "), MinCos: 1,
	}
	hs := sha256.Sum256(lay.Header)
	part.HeaderSHA256 = hex.EncodeToString(hs[:])
	offsetOf := func(k int) int64 { // where tensor k starts; the end for k past the last
		if k < len(lay.Offsets) {
			return lay.Offsets[k]
		}
		return lay.DataSize
	}
	part.DataOffset, part.DataBytes = offsetOf(a), offsetOf(b)-offsetOf(a)
	if o.DryRun {
		if o.AsJSON {
			return writeJSON(e.stdout, part)
		}
		printPlan(e, p)
		fmt.Fprintf(e.stdout, "part %s: tensors %d to %d (%d of %d), %s of data\n", sel, a, b-1, b-a, len(p.Tensors), humanBytes(part.DataBytes))
		return nil
	}
	sub := *p
	sub.Tensors = p.Tensors[a:b]
	var (
		q      *refit.Model
		checks *plan.Checks
	)
	if o.NoVerify {
		q, err = sub.Apply(src, imatrix)
	} else {
		q, checks, err = sub.ApplyChecked(src, imatrix)
	}
	if err != nil {
		return err
	}
	pf, err := refit.CreatePendingContext(e.ctx, out, o.Force)
	if err != nil {
		return err
	}
	defer pf.Abort()
	bar := newProgress(e, "quantize", part.DataBytes)
	bw := bufio.NewWriterSize(bar.writer(pf), 1<<20)
	var prefix [partPrefix]byte
	copy(prefix[:], partMagic)
	binary.LittleEndian.PutUint32(prefix[8:], partVersion)
	binary.LittleEndian.PutUint64(prefix[16:], uint64(len(lay.Header)))
	bw.Write(prefix[:])
	bw.Write(lay.Header)
	sum := sha256.New()
	err = writePartData(io.MultiWriter(bw, sum), q, lay.Alignment)
	if err == nil {
		err = bw.Flush()
	}
	bar.done()
	if err != nil {
		return err
	}
	part.DataSHA256 = hex.EncodeToString(sum.Sum(nil))
	if !o.NoVerify {
		if err := verifyPart(e, src, &sub, checks, q, pf.File, partPrefix+int64(len(lay.Header)), lay.Alignment, part); err != nil {
			return err
		}
	}
	if err := writePartTrailer(pf, part); err != nil {
		return err
	}
	if st, err := pf.Stat(); err != nil {
		return err
	} else if want := partPrefix + part.HeaderBytes + part.DataBytes; st.Size() < want {
		return fmt.Errorf("wrote %d bytes of part data, want %d", st.Size(), want)
	}
	if err := pf.Commit(); err != nil {
		return err
	}
	part.Output = out
	if o.AsJSON {
		return writeJSON(e.stdout, part)
	}
	fmt.Fprintf(e.stdout, "wrote part %s to %s: tensors %d to %d of %d, %s of %s\n", sel, out, a, b-1, len(p.Tensors), humanBytes(part.DataBytes), humanBytes(p.FileBytes))
	if part.Verified {
		fmt.Fprintf(e.stdout, "verified: %d tensors measured as written, part re-read (CRC-32C); max abs error %.4g, worst tensor cosine %.6f\n", part.Tensors, part.MaxAbs, part.MinCos)
	}
	fmt.Fprintf(e.stdout, "then: refit gguf-concat PART... OUT.gguf (all %d parts)\n", sel.Count)
	return nil
}

// writePartData writes q's tensors as gguf.Encode writes them in the data section.
func writePartData(w io.Writer, q *refit.Model, alignment int64) error {
	var zeros [4096]byte
	for _, t := range q.Tensors {
		n, err := t.WriteTo(w)
		if err != nil {
			return fmt.Errorf("writing tensor %q: %w", t.Name, err)
		}
		if n != t.Size() {
			return fmt.Errorf("tensor %q wrote %d bytes, want %d", t.Name, n, t.Size())
		}
		for pad := (n+alignment-1)/alignment*alignment - n; pad > 0; {
			k := min(pad, int64(len(zeros)))
			if _, err := w.Write(zeros[:k]); err != nil {
				return err
			}
			pad -= k
		}
	}
	return nil
}

// verifyPart re-reads the part's tensors from the written file and checks their bytes
// against those produced (plan.Checks.Verify), filling in the part's figures.
func verifyPart(e *env, src *refit.Model, sub *plan.Plan, checks *plan.Checks, q *refit.Model, f io.ReaderAt, dataStart, alignment int64, part *quantPart) error {
	got := make([]*tensor.Tensor, len(q.Tensors))
	off := dataStart
	for i, t := range q.Tensors {
		got[i] = &tensor.Tensor{Name: t.Name, DType: t.DType, Shape: t.Shape, Data: io.NewSectionReader(f, off, t.Size())}
		off += (t.Size() + alignment - 1) / alignment * alignment
	}
	tc, err := checks.Verify(e.ctx, src, &refit.Model{Tensors: got})
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	maxAbs, minCos := 0.0, 1.0
	for _, t := range tc {
		maxAbs, minCos = math.Max(maxAbs, t.MaxAbs), math.Min(minCos, t.Cosine)
		part.Dot, part.SourceSq, part.OutputSq = part.Dot+t.Dot, part.SourceSq+t.SourceSq, part.OutputSq+t.OutputSq
	}
	part.MaxAbs, part.MinCos, part.Verified = jsonFloat(maxAbs), jsonFloat(minCos), true
	if strings.EqualFold(sub.FileType, "F32") && maxAbs != 0 {
		return fmt.Errorf("verify: an F32 file changed values (max error %g)", maxAbs)
	}
	return nil
}

func writePartTrailer(w io.Writer, part *quantPart) error {
	j, err := json.Marshal(part)
	if err != nil {
		return err
	}
	var tail [partSuffix]byte
	binary.LittleEndian.PutUint64(tail[:], uint64(len(j)))
	copy(tail[8:], partMagic)
	if _, err := w.Write(j); err != nil {
		return err
	}
	_, err = w.Write(tail[:])
	return err
}

// partFile is an opened part file, checked against its own size.
type partFile struct {
	name      string
	f         refit.File // local or remote
	meta      quantPart
	header    []byte
	dataStart int64
}

// errPart reports a part file that is not one or does not fit the others.
var errPart = errors.New("bad part file")

// openPart reads a part file's trailer and header and checks every length against the
// file's size before reading or allocating.
func openPart(name string) (*partFile, error) {
	f, err := refit.OpenFile(name)
	if err != nil {
		return nil, err
	}
	p, err := readPart(name, f)
	if err != nil {
		f.Close()
		return nil, err
	}
	return p, nil
}

func readPart(name string, f refit.File) (*partFile, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%s: %w: %w: %s", name, refit.ErrFormat, errPart, fmt.Sprintf(format, a...))
	}
	size := f.Size()
	if size < partPrefix+partSuffix {
		return nil, bad("%d bytes is too short", size)
	}
	var prefix [partPrefix]byte
	var tail [partSuffix]byte
	if err := refit.ReadFullAt(f, prefix[:], 0); err != nil {
		return nil, err
	}
	if err := refit.ReadFullAt(f, tail[:], size-partSuffix); err != nil {
		return nil, err
	}
	if string(prefix[:8]) != partMagic || string(tail[8:]) != partMagic {
		return nil, bad("not a Refit part file (made by refit quantize --shard)")
	}
	if v := binary.LittleEndian.Uint32(prefix[8:]); v != partVersion {
		return nil, fmt.Errorf("%s: %w: part file version %d (this Refit reads %d)", name, refit.ErrUnsupported, v, partVersion)
	}
	headerLen := binary.LittleEndian.Uint64(prefix[16:])
	jsonLen := binary.LittleEndian.Uint64(tail[:])
	room := uint64(size - partPrefix - partSuffix)
	if jsonLen > maxPartJSON || headerLen > maxPartHeadr || jsonLen > room || headerLen > room-jsonLen {
		return nil, bad("header of %d and trailer of %d bytes do not fit %d bytes", headerLen, jsonLen, size)
	}
	j := make([]byte, jsonLen)
	if err := refit.ReadFullAt(f, j, size-partSuffix-int64(jsonLen)); err != nil {
		return nil, err
	}
	p := &partFile{name: name, f: f, dataStart: partPrefix + int64(headerLen)}
	dec := json.NewDecoder(bytes.NewReader(j))
	if err := dec.Decode(&p.meta); err != nil {
		return nil, bad("trailer: %v", err)
	}
	m := &p.meta
	dataLen := int64(room - jsonLen - headerLen)
	if m.Version != partVersion || m.HeaderBytes != int64(headerLen) || m.DataBytes != dataLen || m.Parts < 1 || m.Part < 0 || m.Part >= m.Parts ||
		m.DataOffset < 0 || m.FileBytes < m.HeaderBytes || m.DataOffset > m.FileBytes-m.HeaderBytes-m.DataBytes {
		return nil, bad("trailer does not describe the file (part %d/%d, %d header and %d data bytes)", m.Part, m.Parts, m.HeaderBytes, m.DataBytes)
	}
	p.header = make([]byte, headerLen)
	if err := refit.ReadFullAt(f, p.header, partPrefix); err != nil {
		return nil, err
	}
	if h := sha256.Sum256(p.header); hex.EncodeToString(h[:]) != m.HeaderSHA256 {
		return nil, bad("its GGUF header does not match its trailer")
	}
	return p, nil
}

// gguConcatResult is gguf-concat's --json output.
type ggufConcatResult struct {
	Output   string    `json:"output"`
	Bytes    int64     `json:"bytes_written"`
	Parts    int       `json:"parts"`
	Tensors  int       `json:"tensors"`
	FileType string    `json:"file_type"`
	Verified bool      `json:"verified"` // every part was verified when written
	MaxAbs   jsonFloat `json:"max_abs_error"`
	Cosine   jsonFloat `json:"cosine"`
	MinCos   jsonFloat `json:"min_cosine"`
}

func init() { commands = append(commands, newGGUFConcatCmd) }

func newGGUFConcatCmd(e *env) *cobra.Command {
	var force, asJSON bool
	cmd := &cobra.Command{
		Use:   "gguf-concat PART... OUT.gguf",
		Short: "Join the parts of a sharded GGUF quantization (refit quantize --shard i/N) into one file",
		Long: `gguf-concat writes the GGUF header the parts carry and then each part's tensor
data in part order, without reading the source model or quantizing anything again;
the result is byte-identical to a single-machine "refit quantize IN OUT --type T".

Recipe, one machine per part (the same IN, flags and N on each):

  refit quantize IN part-0.refitpart --type Q4_K_M --shard 0/3
  refit quantize IN part-1.refitpart --type Q4_K_M --shard 1/3
  refit quantize IN part-2.refitpart --type Q4_K_M --shard 2/3
  refit gguf-concat part-*.refitpart OUT.gguf

Each part holds a contiguous range of tensors in output order (balanced by the
weights to quantize) and was verified when written. gguf-concat checks that the
parts are all N of one run (same header, file type, options and importance matrix),
that their ranges meet end to end, and each part's SHA-256 as it copies; it then
re-reads the output's header.`,
		Args: args(cobra.MinimumNArgs(2)),
		RunE: func(cmd *cobra.Command, a []string) error {
			return runGGUFConcat(e, a[:len(a)-1], a[len(a)-1], force, asJSON)
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "overwrite an existing output")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func runGGUFConcat(e *env, names []string, out string, force, asJSON bool) error {
	var parts []*partFile
	defer func() {
		for _, p := range parts {
			p.f.Close()
		}
	}()
	for _, n := range names {
		if sameFile(n, out) {
			return usageError{fmt.Errorf("output %s is one of the parts", out)}
		}
		p, err := openPart(n)
		if err != nil {
			return err
		}
		parts = append(parts, p)
	}
	sort.SliceStable(parts, func(i, j int) bool { return parts[i].meta.Part < parts[j].meta.Part })
	first := &parts[0].meta
	if len(parts) != first.Parts {
		return fmt.Errorf("%w: %w: %d parts given, the run made %d", refit.ErrFormat, errPart, len(parts), first.Parts)
	}
	res := &ggufConcatResult{Output: out, Parts: len(parts), FileType: first.FileType, Verified: true, MinCos: 1}
	var dot, na, nb float64
	next, nextTensor := int64(0), 0
	for i, p := range parts {
		m := &p.meta
		switch {
		case m.Part != i:
			return fmt.Errorf("%s: %w: %w: part %d given twice or part %d missing", p.name, refit.ErrFormat, errPart, m.Part, i)
		case m.Parts != first.Parts || m.HeaderSHA256 != first.HeaderSHA256 || m.Options != first.Options || m.FileType != first.FileType || m.FileBytes != first.FileBytes || m.AllTensors != first.AllTensors:
			return fmt.Errorf("%s: %w: %w: part %d/%d is from another run than %s (header, type, options or count differ)", p.name, refit.ErrFormat, errPart, m.Part, m.Parts, parts[0].name)
		case m.DataOffset != next || m.FirstTensor != nextTensor:
			return fmt.Errorf("%s: %w: %w: part %d starts at data byte %d (tensor %d), want %d (tensor %d)", p.name, refit.ErrFormat, errPart, i, m.DataOffset, m.FirstTensor, next, nextTensor)
		}
		next += m.DataBytes
		nextTensor += m.Tensors
		res.Verified = res.Verified && m.Verified
		res.MaxAbs, res.MinCos = jsonFloat(math.Max(float64(res.MaxAbs), float64(m.MaxAbs))), jsonFloat(math.Min(float64(res.MinCos), float64(m.MinCos)))
		dot, na, nb = dot+m.Dot, na+m.SourceSq, nb+m.OutputSq
	}
	if first.HeaderBytes+next != first.FileBytes || nextTensor != first.AllTensors {
		return fmt.Errorf("%w: %w: the parts hold %d data bytes and %d tensors, the file needs %d and %d", refit.ErrFormat, errPart, next, nextTensor, first.FileBytes-first.HeaderBytes, first.AllTensors)
	}
	res.Cosine = jsonFloat(plan.Cosine(dot, na, nb))
	pf, err := refit.CreatePendingContext(e.ctx, out, force)
	if err != nil {
		return err
	}
	defer pf.Abort()
	bar := newProgress(e, "concat", first.FileBytes)
	w := bar.writer(pf)
	if _, err := w.Write(parts[0].header); err != nil {
		return err
	}
	buf := make([]byte, 1<<20)
	for _, p := range parts {
		sum := sha256.New()
		if err := copyPartData(w, sum, io.NewSectionReader(p.f, p.dataStart, p.meta.DataBytes), buf); err != nil {
			return fmt.Errorf("%s: %w", p.name, err)
		}
		if hex.EncodeToString(sum.Sum(nil)) != p.meta.DataSHA256 {
			return fmt.Errorf("%s: %w: %w: its data does not have the SHA-256 it was written with", p.name, refit.ErrFormat, errPart)
		}
	}
	bar.done()
	st, err := pf.Stat()
	if err != nil {
		return err
	}
	if res.Bytes = st.Size(); res.Bytes != first.FileBytes {
		return fmt.Errorf("wrote %d bytes, the parts said %d", res.Bytes, first.FileBytes)
	}
	// The header parses and describes the data written.
	got, err := gguf.Decode(pf.File, res.Bytes, nil)
	if err != nil {
		return fmt.Errorf("verify: re-reading the output: %w", err)
	}
	res.Tensors = len(got.Tensors)
	if res.Tensors != first.AllTensors {
		return fmt.Errorf("verify: the output has %d tensors, the parts %d", res.Tensors, first.AllTensors)
	}
	if err := pf.Commit(); err != nil {
		return err
	}
	if asJSON {
		return writeJSON(e.stdout, res)
	}
	fmt.Fprintf(e.stdout, "wrote %s: %s, %d tensors (%s) from %d parts\n", out, humanBytes(res.Bytes), res.Tensors, res.FileType, res.Parts)
	if res.Verified {
		fmt.Fprintf(e.stdout, "parts verified when written: max abs error %.4g, cosine %.6f overall, %.6f worst tensor\n", res.MaxAbs, res.Cosine, res.MinCos)
	}
	return nil
}

func copyPartData(w io.Writer, sum hash.Hash, r io.Reader, buf []byte) error {
	_, err := io.CopyBuffer(io.MultiWriter(w, sum), r, buf)
	return err
}
