package onnxq

import (
	"fmt"
	"strings"
)

// Method is what gets quantized and when its ranges are known.
type Method int

const (
	// Dynamic quantizes weights ahead of time and activations at run time
	// (DynamicQuantizeLinear); it needs no calibration data.
	Dynamic Method = iota
	// Static quantizes weights and activations with ranges from calibration data.
	Static
	// WeightOnly quantizes MatMul/Gemm weights to 4 or 8 bits in blocks along K;
	// activations stay float.
	WeightOnly
)

func (m Method) String() string {
	switch m {
	case Dynamic:
		return "dynamic"
	case Static:
		return "static"
	case WeightOnly:
		return "weight-only"
	}
	return fmt.Sprintf("Method(%d)", int(m))
}

// ParseMethod parses a Method's String form.
func ParseMethod(s string) (Method, error) {
	for _, m := range []Method{Dynamic, Static, WeightOnly} {
		if strings.EqualFold(s, m.String()) {
			return m, nil
		}
	}
	return 0, fmt.Errorf("onnxq: unknown method %q (want dynamic, static or weight-only)", s)
}

// Format is how quantized operators appear in the graph.
type Format int

const (
	// FormatAuto is QOperator for Dynamic and WeightOnly, QDQ for Static.
	FormatAuto Format = iota
	// FormatQOperator uses integer operators: MatMulInteger/ConvInteger (dynamic),
	// QLinearConv/QLinearMatMul (static), com.microsoft MatMulNBits (weight-only).
	FormatQOperator
	// FormatQDQ keeps float operators and inserts QuantizeLinear/DequantizeLinear
	// pairs, which ONNX Runtime fuses into integer kernels. Weight-only QDQ uses
	// blocked DequantizeLinear (opset 21).
	FormatQDQ
)

func (f Format) String() string {
	switch f {
	case FormatAuto:
		return "auto"
	case FormatQOperator:
		return "qoperator"
	case FormatQDQ:
		return "qdq"
	}
	return fmt.Sprintf("Format(%d)", int(f))
}

// ParseFormat parses a Format's String form.
func ParseFormat(s string) (Format, error) {
	for _, f := range []Format{FormatAuto, FormatQOperator, FormatQDQ} {
		if strings.EqualFold(s, f.String()) {
			return f, nil
		}
	}
	return 0, fmt.Errorf("onnxq: unknown format %q (want auto, qoperator or qdq)", s)
}

// Calibration is how an activation range is chosen from observed values.
type Calibration int

const (
	MinMax     Calibration = iota // the observed minimum and maximum
	Percentile                    // the Percentile-th percentile of |x|
	Entropy                       // the threshold minimizing KL(P || Q), as TensorRT
	MSE                           // the threshold minimizing expected squared error
)

func (c Calibration) String() string {
	return [...]string{"minmax", "percentile", "entropy", "mse"}[c]
}

// ParseCalibration parses a Calibration's String form.
func ParseCalibration(s string) (Calibration, error) {
	for _, c := range []Calibration{MinMax, Percentile, Entropy, MSE} {
		if strings.EqualFold(s, c.String()) {
			return c, nil
		}
	}
	return 0, fmt.Errorf("onnxq: unknown calibration %q (want minmax, percentile, entropy or mse)", s)
}

// Algo is the weight-only rounding algorithm.
type Algo int

const (
	RTN  Algo = iota // round to nearest per block
	GPTQ             // second-order error compensation (Frantar et al. 2022)
	AWQ              // activation-aware per-input-channel scaling (Lin et al. 2023), then RTN
)

func (a Algo) String() string { return [...]string{"rtn", "gptq", "awq"}[a] }

// ParseAlgo parses an Algo's String form.
func ParseAlgo(s string) (Algo, error) {
	for _, a := range []Algo{RTN, GPTQ, AWQ} {
		if strings.EqualFold(s, a.String()) {
			return a, nil
		}
	}
	return 0, fmt.Errorf("onnxq: unknown algorithm %q (want rtn, gptq or awq)", s)
}

// Options configures Quantize. The zero value is dynamic int8 quantization of
// MatMul and Gemm weights, per tensor, in QOperator form.
type Options struct {
	Method Method
	Format Format
	// OpTypes are the operators to quantize; nil means MatMul and Gemm (Dynamic,
	// WeightOnly) or Conv, MatMul and Gemm (Static). WeightOnly supports only MatMul
	// and Gemm. LSTM, GRU and RNN (Dynamic, Static) keep computing in float on int8
	// stored weights W and R (traced back through Slice/Concat/... to initializers,
	// in any scope), behind a per-row DequantizeLinear.
	OpTypes []string
	// Exclude lists node names or anchored regular expressions left in float.
	Exclude []string
	// PerChannel gives each output channel of a weight its own scale.
	PerChannel bool
	// UnsignedWeights stores int8 weights as uint8 with a zero point (asymmetric);
	// the default is int8, symmetric (zero point 0).
	UnsignedWeights bool
	// ReduceRange quantizes weights to 7 bits, for CPUs whose int8 dot products
	// can overflow (pre-VNNI x86).
	ReduceRange bool
	// SignedActivations makes static activations int8; the default is uint8.
	SignedActivations bool
	// Symmetric makes static activation ranges symmetric around zero.
	Symmetric bool

	// Calibration chooses activation ranges (Static).
	Calibration Calibration
	// Percentile for Calibration == Percentile; 0 means 99.99.
	Percentile float64
	// Bins of the calibration histogram; 0 means 2048.
	Bins int

	// Bits of weight-only quantization, 4 or 8; 0 means 4.
	Bits int
	// GroupSize is the weight-only block length along K (a power of two >= 16);
	// 0 means 128.
	GroupSize int
	// Symmetric weight-only blocks have no stored zero point.
	WeightOnlySymmetric bool
	Algo                Algo
	// Damp is GPTQ's Hessian damping as a fraction of the mean diagonal; 0 means 0.01.
	Damp float64
	// ActOrder processes GPTQ columns by decreasing Hessian diagonal (with groups
	// fixed in storage order, so no g_idx is needed).
	ActOrder bool
	// GPTQBlock is GPTQ's lazy-update block; 0 means 128.
	GPTQBlock int
	// AWQGrid is the number of alpha steps in [0, 1]; 0 means 20.
	AWQGrid int
	// Threads caps the goroutines of the calibration runs and the weight searches;
	// 0 means GOMAXPROCS. The output does not depend on it.
	Threads int

	// Progress, if set, receives a line per step.
	Progress func(msg string)
	// LayerProgress, if set, is called after the GPTQ or AWQ search of each layer with
	// the layers searched so far and the layers there are (a layer is searched once);
	// Progress then gets no line per layer.
	LayerProgress func(done, total int)
	// NodeProgress, if set, is called by Apply after each node it quantizes, with the
	// nodes done and the nodes it quantizes.
	NodeProgress func(done, total int)
}

func (o *Options) withDefaults() (Options, error) {
	var r Options
	if o != nil {
		r = *o
	}
	if r.Percentile == 0 {
		r.Percentile = 99.99
	}
	if r.Percentile <= 50 || r.Percentile > 100 {
		return r, fmt.Errorf("onnxq: percentile %g must be in (50, 100]", r.Percentile)
	}
	if r.Bins == 0 {
		r.Bins = 2048
	}
	if r.Bins < 256 || r.Bins > 1<<16 {
		return r, fmt.Errorf("onnxq: bins %d must be in [256, 65536]", r.Bins)
	}
	if r.Bits == 0 {
		r.Bits = 4
	}
	if r.Bits != 4 && r.Bits != 8 {
		return r, fmt.Errorf("onnxq: bits %d: want 4 or 8", r.Bits)
	}
	if r.GroupSize == 0 {
		r.GroupSize = 128
	}
	if r.GroupSize < 16 || r.GroupSize&(r.GroupSize-1) != 0 || r.GroupSize > 1<<16 {
		return r, fmt.Errorf("onnxq: group size %d must be a power of two in [16, 65536]", r.GroupSize)
	}
	if r.Damp == 0 {
		r.Damp = 0.01
	}
	if r.Damp < 0 || r.Damp > 1 {
		return r, fmt.Errorf("onnxq: damp %g must be in (0, 1]", r.Damp)
	}
	if r.GPTQBlock == 0 {
		r.GPTQBlock = 128
	}
	if r.GPTQBlock < 1 {
		return r, fmt.Errorf("onnxq: GPTQ block %d must be positive", r.GPTQBlock)
	}
	if r.AWQGrid == 0 {
		r.AWQGrid = 20
	}
	if r.AWQGrid < 1 || r.AWQGrid > 1000 {
		return r, fmt.Errorf("onnxq: AWQ grid %d must be in [1, 1000]", r.AWQGrid)
	}
	if r.Format == FormatAuto {
		r.Format = FormatQOperator
		if r.Method == Static {
			r.Format = FormatQDQ
		}
	}
	if r.OpTypes == nil {
		r.OpTypes = []string{"MatMul", "Gemm"}
		if r.Method == Static {
			r.OpTypes = []string{"Conv", "MatMul", "Gemm"}
		}
	}
	for _, op := range r.OpTypes {
		switch op {
		case "MatMul", "Gemm":
		case "Conv":
			if r.Method == WeightOnly {
				return r, fmt.Errorf("onnxq: weight-only quantization supports MatMul and Gemm, not Conv")
			}
		case "LSTM", "GRU", "RNN":
			if r.Method == WeightOnly {
				return r, fmt.Errorf("onnxq: weight-only quantization supports MatMul and Gemm, not %s", op)
			}
		default:
			return r, fmt.Errorf("onnxq: op type %q: want Conv, MatMul, Gemm, LSTM, GRU or RNN", op)
		}
	}
	if r.Progress == nil {
		r.Progress = func(string) {}
	}
	return r, nil
}

// SaturatesWithoutVNNI reports whether models quantized with o have uint8 activations
// and 8-bit int8 weights: ONNX Runtime's kernels for that combination on x86 CPUs
// without VNNI (AVX2, AVX-512 without VNNI) sum pairs of products in a saturating
// int16, so results there can differ from the exact ones (runtime.SaturatingPairsArith
// reproduces them). ReduceRange, SignedActivations and UnsignedWeights avoid it, and
// weight-only quantization keeps float activations.
func (o *Options) SaturatesWithoutVNNI() bool {
	return o.Method != WeightOnly && !o.ReduceRange && !o.SignedActivations && !o.UnsignedWeights
}
