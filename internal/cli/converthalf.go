package cli

import (
	"fmt"
	"maps"
	"path/filepath"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/onnx"
	"github.com/refit-ml/refit/graph/half"
	"github.com/refit-ml/refit/runtime"
	"github.com/refit-ml/refit/tensor"
)

// halfResult is convert's result for an ONNX graph converted to half precision.
type halfResult struct {
	Input        string       `json:"input"`
	Output       string       `json:"output"`
	Bytes        int64        `json:"bytes_written"`
	Report       *half.Report `json:"report"`
	Verification *modelDiff   `json:"verification,omitempty"`
}

// convertONNXHalf rewrites an ONNX graph to float16 or bfloat16 (package half), writes
// it, and unless --no-verify runs the float32 model and the result on the same
// inputs in Refit's runtime and reports the error.
func convertONNXHalf(e *env, in, out string, d tensor.DType, o *convertOptions) error {
	fsys, base := refit.FileFS(in)
	mp, err := onnx.Load(fsys, base)
	if err != nil {
		return err
	}
	hm, rep, err := half.Model(e.ctx, mp, fsys, &half.Options{DType: d, HalfIO: o.halfIO, Keep: o.keepOps, KeepNodes: o.keepNodes})
	if err != nil {
		return err
	}
	pf, err := createONNX(e, out, o.force, hm)
	if err != nil {
		return err
	}
	defer pf.Abort()
	res := &halfResult{Input: in, Output: out, Report: rep}
	if st, err := pf.Stat(); err == nil {
		res.Bytes = st.Size()
	}
	if !o.noVerify {
		written, err := onnx.Load(refit.DirFS(filepath.Dir(pf.Name())), filepath.Base(pf.Name()))
		if err != nil {
			return fmt.Errorf("verify: re-reading the ONNX graph: %w", err)
		}
		sa, err := runtime.Load(mp, fsys, nil)
		if err != nil {
			return fmt.Errorf("verify: the float32 model does not load: %w", err)
		}
		sb, err := runtime.Load(written, nil, nil)
		if err != nil {
			return fmt.Errorf("verify: the %v model does not load: %w", d, err)
		}
		set, err := (&runInputs{seed: 1, batch: 1}).gather(sa)
		if err != nil {
			return fmt.Errorf("verify: %w", err)
		}
		if res.Verification, err = diffSessions(e, sa, sb, set); err != nil {
			return fmt.Errorf("verify: %w", err)
		}
		res.Verification.A, res.Verification.B = in, out
	}
	if err := pf.Commit(); err != nil {
		return err
	}
	if o.rep != nil {
		r, err := halfReport(res)
		if err != nil {
			return err
		}
		if err := o.rep.finish(r, res); err != nil {
			return err
		}
	}
	if o.asJSON {
		return writeJSON(e.stdout, res)
	}
	io := "float32 inputs and outputs kept"
	if o.halfIO {
		io = "inputs and outputs " + d.String()
	}
	fmt.Fprintf(e.stdout, "%s -> %s (onnx, %v): %d initializers and %d constants converted, %d Casts inserted, %s; %s written\n",
		in, out, d, rep.Initializers, rep.Constants, rep.Casts, io, humanBytes(res.Bytes))
	if rep.Clamped > 0 || rep.Underflow > 0 {
		fmt.Fprintf(e.stdout, "  %d of %d values beyond the %v range clamped to its largest finite value; %d small values became 0\n",
			rep.Clamped, rep.Values, d, rep.Underflow)
	}
	for _, k := range rep.Kept {
		fmt.Fprintf(e.stdout, "  kept in float32: %s (%s): %s\n", k.Node, k.Op, k.Reason)
	}
	for _, u := range rep.Untyped {
		fmt.Fprintf(e.stderr, "warning: %s of a float32 node has no inferable type and was not cast\n", u)
	}
	if v := res.Verification; v != nil {
		fmt.Fprintf(e.stdout, "verified against the float32 model on %s: outputs max abs error %.3g, min cosine %.6f\n", v.Inputs, v.MaxAbs, v.MinCos)
		for _, od := range v.Outputs {
			if od.Note != "" {
				fmt.Fprintf(e.stdout, "  %s: %s\n", od.Name, od.Note)
			}
		}
	}
	if d == tensor.BF16 {
		fmt.Fprintln(e.stdout, "note: ONNX Runtime's CPU provider has no bfloat16 kernels; this model runs in Refit's runtime and on providers with bfloat16 support")
	}
	return nil
}

// inputsFor casts float inputs to the float type s declares for them, so that a
// model with half-precision inputs (convert --half-io) runs on the float32 inputs of
// the model it came from. Other inputs are passed as they are.
func inputsFor(s *runtime.Session, in map[string]*runtime.Value) (map[string]*runtime.Value, error) {
	out, cloned := in, false
	for _, info := range s.Inputs() {
		v := in[info.Name]
		if v == nil || v.DType == info.DType || !v.DType.Float() || !info.DType.Float() {
			continue
		}
		t, err := v.Tensor(info.Name)
		if err != nil {
			return nil, err
		}
		if t, err = tensor.Cast(t, info.DType); err != nil {
			return nil, err
		}
		cv, err := runtime.FromTensor(t)
		if err != nil {
			return nil, err
		}
		if !cloned {
			out, cloned = maps.Clone(in), true
		}
		out[info.Name] = cv
	}
	return out, nil
}
