package runtime

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/refit-ml/refit/internal/blas"
	"github.com/refit-ml/refit/internal/parallel"
	"github.com/refit-ml/refit/tensor"
)

// Elementwise operators: numpy-broadcast binary arithmetic, comparisons, logic and
// bitwise ops, variadic Max/Min/Sum/Mean, Where, and unary math and activations.

func init() {
	registerAll(1, true, arithKernel, "Add", "Sub", "Mul", "Div", "Pow", "Mod")
	registerAll(1, true, compareKernel, "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual")
	registerAll(1, false, logicKernel, "And", "Or", "Xor")
	registerAll(1, false, bitwiseKernel, "BitwiseAnd", "BitwiseOr", "BitwiseXor", "BitShift")
	registerAll(1, true, variadicKernel, "Max", "Min", "Sum", "Mean")
	Register(Op{Type: "Where", Since: 9, Kernel: whereKernel})
	Register(Op{Type: "Not", Since: 1, Kernel: notKernel})
	Register(Op{Type: "BitwiseNot", Since: 18, Kernel: bitwiseNotKernel})
	Register(Op{Type: "Shrink", Since: 9, Kernel: shrinkKernel, ViaFloat32: true})
	registerAll(1, true, signedKernel, "Neg", "Abs", "Sign")
	registerAll(1, true, isKernel, "IsNaN", "IsInf")
	var floatOps []string
	for name := range floatUnary {
		floatOps = append(floatOps, name)
	}
	registerAll(1, true, floatKernel, floatOps...)
	Register(Op{Type: "PRelu", Since: 1, Kernel: preluKernel, ViaFloat32: true})
	Register(Op{Type: "Clip", Since: 1, Kernel: clipKernel, ViaFloat32: true})
}

func broadcastPair(a, b *Value) ([]int64, *bcast, error) {
	if a.DType != b.DType {
		return nil, nil, fmt.Errorf("input types differ: %v and %v", a.DType, b.DType)
	}
	shape, err := BroadcastShape(a.Shape, b.Shape)
	if err != nil {
		return nil, nil, err
	}
	return shape, newBcast(shape, a.Shape, b.Shape), nil
}

func twoInputs(c *Call) (*Value, *Value, error) {
	a, b := c.Input(0), c.Input(1)
	if a == nil || b == nil {
		return nil, nil, fmt.Errorf("needs two inputs")
	}
	return a, b, nil
}

func arithKernel(op string) Kernel {
	return func(c *Call) ([]*Value, error) {
		a, b, err := twoInputs(c)
		if err != nil {
			return nil, err
		}
		if op == "Pow" && a.DType != b.DType {
			r, err := castValue(c, b, a.DType)
			if err != nil {
				return nil, err
			}
			b = r // the exponent may have its own type
		}
		shape, bc, err := broadcastPair(a, b)
		if err != nil {
			return nil, err
		}
		fmod, err := c.Node.Int("fmod", 0)
		if err != nil {
			return nil, err
		}
		if op == "Mod" && fmod == 0 && a.DType.Float() {
			return nil, fmt.Errorf("float modulo (%v) needs fmod=1", a.DType)
		}
		if (op == "Div" || op == "Mod") && !a.DType.Float() && !slices.Contains(shape, 0) && hasZero(b) {
			// Checked before any work: a zero divisor is data, not a kernel failure.
			return nil, fmt.Errorf("%s of %v: %w", op, a.DType, ErrDivisionByZero)
		}
		out, err := c.allocRaw(a.DType, shape)
		if err != nil {
			return nil, err
		}
		var ok bool
		switch x := a.Data.(type) {
		case []float32:
			ok = arith(c.Threads(), op, fmod != 0, out.Data.([]float32), x, b.Data.([]float32), bc)
		case []float64:
			ok = arith(c.Threads(), op, fmod != 0, out.Data.([]float64), x, b.Data.([]float64), bc)
		case []int8:
			ok = arith(c.Threads(), op, fmod != 0, out.Data.([]int8), x, b.Data.([]int8), bc)
		case []int16:
			ok = arith(c.Threads(), op, fmod != 0, out.Data.([]int16), x, b.Data.([]int16), bc)
		case []int32:
			ok = arith(c.Threads(), op, fmod != 0, out.Data.([]int32), x, b.Data.([]int32), bc)
		case []int64:
			ok = arith(c.Threads(), op, fmod != 0, out.Data.([]int64), x, b.Data.([]int64), bc)
		case []uint8:
			ok = arith(c.Threads(), op, fmod != 0, out.Data.([]uint8), x, b.Data.([]uint8), bc)
		case []uint16:
			ok = arith(c.Threads(), op, fmod != 0, out.Data.([]uint16), x, b.Data.([]uint16), bc)
		case []uint32:
			ok = arith(c.Threads(), op, fmod != 0, out.Data.([]uint32), x, b.Data.([]uint32), bc)
		case []uint64:
			ok = arith(c.Threads(), op, fmod != 0, out.Data.([]uint64), x, b.Data.([]uint64), bc)
		}
		if !ok {
			return nil, fmt.Errorf("%s is not defined for %v", op, a.DType)
		}
		if c.Node.relu {
			reluInPlace(c.Threads(), out.Data) // a Relu fused by fuseActivations
		}
		return []*Value{out}, nil
	}
}

func isFloatType[T number]() bool {
	var z T
	switch any(z).(type) {
	case float32, float64:
		return true
	}
	return false
}

// ErrDivisionByZero reports an integer Div or Mod whose divisor holds a zero.
var ErrDivisionByZero = errors.New("runtime: integer division by zero")

// hasZero reports whether an integer value holds a zero element.
func hasZero(v *Value) bool {
	switch d := v.Data.(type) {
	case []int8:
		return slices.Contains(d, 0)
	case []int16:
		return slices.Contains(d, 0)
	case []int32:
		return slices.Contains(d, 0)
	case []int64:
		return slices.Contains(d, 0)
	case []uint8:
		return slices.Contains(d, 0)
	case []uint16:
		return slices.Contains(d, 0)
	case []uint32:
		return slices.Contains(d, 0)
	case []uint64:
		return slices.Contains(d, 0)
	}
	return false
}

func arith[T number](threads int, op string, fmod bool, out, a, b []T, bc *bcast) bool {
	var f func(x, y T) T
	switch op {
	case "Add":
		f = func(x, y T) T { return x + y }
	case "Sub":
		f = func(x, y T) T { return x - y }
	case "Mul":
		f = func(x, y T) T { return x * y }
	case "Div":
		f = func(x, y T) T { return x / y } // integer divisors were checked by hasZero
	case "Pow":
		if isFloatType[T]() {
			f = func(x, y T) T { return T(math.Pow(float64(x), float64(y))) }
		} else {
			f = func(x, y T) T { return T(intPow(int64(x), int64(y))) }
		}
	case "Mod":
		switch {
		case isFloatType[T]():
			f = func(x, y T) T { return T(math.Mod(float64(x), float64(y))) }
		case fmod:
			f = func(x, y T) T { return T(int64(x) % int64(y)) }
		default: // Python-style: the result takes the divisor's sign
			f = func(x, y T) T {
				m := int64(x) % int64(y)
				if m != 0 && (m < 0) != (int64(y) < 0) {
					m += int64(y)
				}
				return T(m)
			}
		}
	default:
		return false
	}
	if op == "Add" || op == "Mul" || op == "Sub" {
		if fastArith(threads, op, out, a, b, bc) {
			return true
		}
	}
	binaryMap(threads, out, a, b, bc, f)
	return true
}

// fastArith handles same-shape and row-broadcast float32 Add/Sub/Mul without an
// indirect call per element.
func fastArith[T number](threads int, op string, out, a, b []T, bc *bcast) bool {
	o, ok := any(out).([]float32)
	if !ok {
		return false
	}
	x, y := any(a).([]float32), any(b).([]float32)
	n := bc.rowLen()
	sa, sb := bc.inner(0), bc.inner(1)
	ia, ib := 0, 1
	if sa == 0 && sb == 1 && op != "Sub" {
		// A scalar row on the left of a commutative op: swap the operands.
		x, y, sa, sb, ia, ib = y, x, 1, 0, 1, 0
	}
	if sa != 1 || (sb != 1 && sb != 0) {
		return false
	}
	bc.each(threads, func(off int, offs []int) {
		dst := o[off : off+n]
		xa := x[offs[ia] : offs[ia]+n]
		if sb == 0 {
			s := y[offs[ib]]
			switch op {
			case "Add":
				for i := range dst {
					dst[i] = xa[i] + s
				}
			case "Sub":
				for i := range dst {
					dst[i] = xa[i] - s
				}
			case "Mul":
				for i := range dst {
					dst[i] = xa[i] * s
				}
			}
			return
		}
		yb := y[offs[ib] : offs[ib]+n]
		switch op {
		case "Add":
			blas.Arith(dst, xa, yb, blas.OpAdd)
		case "Sub":
			blas.Arith(dst, xa, yb, blas.OpSub)
		case "Mul":
			blas.Arith(dst, xa, yb, blas.OpMul)
		}
	})
	return true
}

func intPow(x, y int64) int64 {
	if y < 0 {
		switch x {
		case 1:
			return 1
		case -1:
			if y%2 == 0 {
				return 1
			}
			return -1
		}
		return 0
	}
	r := int64(1)
	for y > 0 {
		if y&1 == 1 {
			r *= x
		}
		x *= x
		y >>= 1
	}
	return r
}

type ordered interface {
	number
}

func compareKernel(op string) Kernel {
	return func(c *Call) ([]*Value, error) {
		a, b, err := twoInputs(c)
		if err != nil {
			return nil, err
		}
		shape, bc, err := broadcastPair(a, b)
		if err != nil {
			return nil, err
		}
		out, err := c.Alloc(tensor.Bool, shape)
		if err != nil {
			return nil, err
		}
		o := out.Data.([]bool)
		ok := true
		switch x := a.Data.(type) {
		case []float32:
			ok = compare(c.Threads(), op, o, x, b.Data.([]float32), bc)
		case []float64:
			ok = compare(c.Threads(), op, o, x, b.Data.([]float64), bc)
		case []int8:
			ok = compare(c.Threads(), op, o, x, b.Data.([]int8), bc)
		case []int16:
			ok = compare(c.Threads(), op, o, x, b.Data.([]int16), bc)
		case []int32:
			ok = compare(c.Threads(), op, o, x, b.Data.([]int32), bc)
		case []int64:
			ok = compare(c.Threads(), op, o, x, b.Data.([]int64), bc)
		case []uint8:
			ok = compare(c.Threads(), op, o, x, b.Data.([]uint8), bc)
		case []uint16:
			ok = compare(c.Threads(), op, o, x, b.Data.([]uint16), bc)
		case []uint32:
			ok = compare(c.Threads(), op, o, x, b.Data.([]uint32), bc)
		case []uint64:
			ok = compare(c.Threads(), op, o, x, b.Data.([]uint64), bc)
		case []bool:
			if op != "Equal" {
				return nil, fmt.Errorf("%s is not defined for bool", op)
			}
			binaryMap(c.Threads(), o, x, b.Data.([]bool), bc, func(p, q bool) bool { return p == q })
		}
		if !ok {
			return nil, fmt.Errorf("%s is not defined for %v", op, a.DType)
		}
		return []*Value{out}, nil
	}
}

func compare[T ordered](threads int, op string, out []bool, a, b []T, bc *bcast) bool {
	var f func(x, y T) bool
	switch op {
	case "Equal":
		f = func(x, y T) bool { return x == y }
	case "Less":
		f = func(x, y T) bool { return x < y }
	case "Greater":
		f = func(x, y T) bool { return x > y }
	case "LessOrEqual":
		f = func(x, y T) bool { return x <= y }
	case "GreaterOrEqual":
		f = func(x, y T) bool { return x >= y }
	default:
		return false
	}
	binaryMap(threads, out, a, b, bc, f)
	return true
}

func logicKernel(op string) Kernel {
	return func(c *Call) ([]*Value, error) {
		a, b, err := twoInputs(c)
		if err != nil {
			return nil, err
		}
		if a.DType != tensor.Bool {
			return nil, fmt.Errorf("%s needs bool inputs, have %v", op, a.DType)
		}
		shape, bc, err := broadcastPair(a, b)
		if err != nil {
			return nil, err
		}
		out, err := c.Alloc(tensor.Bool, shape)
		if err != nil {
			return nil, err
		}
		var f func(x, y bool) bool
		switch op {
		case "And":
			f = func(x, y bool) bool { return x && y }
		case "Or":
			f = func(x, y bool) bool { return x || y }
		default:
			f = func(x, y bool) bool { return x != y }
		}
		binaryMap(c.Threads(), out.Data.([]bool), a.Data.([]bool), b.Data.([]bool), bc, f)
		return []*Value{out}, nil
	}
}

func bitwiseKernel(op string) Kernel {
	return func(c *Call) ([]*Value, error) {
		a, b, err := twoInputs(c)
		if err != nil {
			return nil, err
		}
		shape, bc, err := broadcastPair(a, b)
		if err != nil {
			return nil, err
		}
		left := true
		if op == "BitShift" {
			dir, err := c.Node.String("direction", "")
			if err != nil {
				return nil, err
			}
			switch dir {
			case "LEFT":
			case "RIGHT":
				left = false
			default:
				return nil, fmt.Errorf("direction %q must be LEFT or RIGHT", dir)
			}
		}
		out, err := c.Alloc(a.DType, shape)
		if err != nil {
			return nil, err
		}
		ok := true
		switch x := a.Data.(type) {
		case []int8:
			bitwise(c.Threads(), op, left, out.Data.([]int8), x, b.Data.([]int8), bc)
		case []int16:
			bitwise(c.Threads(), op, left, out.Data.([]int16), x, b.Data.([]int16), bc)
		case []int32:
			bitwise(c.Threads(), op, left, out.Data.([]int32), x, b.Data.([]int32), bc)
		case []int64:
			bitwise(c.Threads(), op, left, out.Data.([]int64), x, b.Data.([]int64), bc)
		case []uint8:
			bitwise(c.Threads(), op, left, out.Data.([]uint8), x, b.Data.([]uint8), bc)
		case []uint16:
			ok = a.DType == tensor.U16
			if ok {
				bitwise(c.Threads(), op, left, out.Data.([]uint16), x, b.Data.([]uint16), bc)
			}
		case []uint32:
			bitwise(c.Threads(), op, left, out.Data.([]uint32), x, b.Data.([]uint32), bc)
		case []uint64:
			bitwise(c.Threads(), op, left, out.Data.([]uint64), x, b.Data.([]uint64), bc)
		default:
			ok = false
		}
		if !ok {
			return nil, fmt.Errorf("%s needs integer inputs, have %v", op, a.DType)
		}
		return []*Value{out}, nil
	}
}

func bitwise[T integer](threads int, op string, left bool, out, a, b []T, bc *bcast) {
	var f func(x, y T) T
	switch op {
	case "BitwiseAnd":
		f = func(x, y T) T { return x & y }
	case "BitwiseOr":
		f = func(x, y T) T { return x | y }
	case "BitwiseXor":
		f = func(x, y T) T { return x ^ y }
	default:
		if left {
			f = func(x, y T) T { return x << uint64(y) }
		} else {
			f = func(x, y T) T { return x >> uint64(y) }
		}
	}
	binaryMap(threads, out, a, b, bc, f)
}

func bitwiseNotKernel(c *Call) ([]*Value, error) {
	a := c.Input(0)
	out, err := c.Alloc(a.DType, a.Shape)
	if err != nil {
		return nil, err
	}
	switch x := a.Data.(type) {
	case []int8:
		unaryMap(c.Threads(), out.Data.([]int8), x, func(v int8) int8 { return ^v })
	case []int16:
		unaryMap(c.Threads(), out.Data.([]int16), x, func(v int16) int16 { return ^v })
	case []int32:
		unaryMap(c.Threads(), out.Data.([]int32), x, func(v int32) int32 { return ^v })
	case []int64:
		unaryMap(c.Threads(), out.Data.([]int64), x, func(v int64) int64 { return ^v })
	case []uint8:
		unaryMap(c.Threads(), out.Data.([]uint8), x, func(v uint8) uint8 { return ^v })
	case []uint16:
		unaryMap(c.Threads(), out.Data.([]uint16), x, func(v uint16) uint16 { return ^v })
	case []uint32:
		unaryMap(c.Threads(), out.Data.([]uint32), x, func(v uint32) uint32 { return ^v })
	case []uint64:
		unaryMap(c.Threads(), out.Data.([]uint64), x, func(v uint64) uint64 { return ^v })
	default:
		return nil, fmt.Errorf("BitwiseNot needs an integer input, have %v", a.DType)
	}
	return []*Value{out}, nil
}

func notKernel(c *Call) ([]*Value, error) {
	a := c.Input(0)
	if a.DType != tensor.Bool {
		return nil, fmt.Errorf("needs a bool input, have %v", a.DType)
	}
	out, err := c.Alloc(tensor.Bool, a.Shape)
	if err != nil {
		return nil, err
	}
	unaryMap(c.Threads(), out.Data.([]bool), a.Data.([]bool), func(v bool) bool { return !v })
	return []*Value{out}, nil
}

// variadicKernel folds Max, Min, Sum and Mean over any number of broadcast inputs.
func variadicKernel(op string) Kernel {
	binOp := map[string]string{"Max": "Max", "Min": "Min", "Sum": "Add", "Mean": "Add"}[op]
	return func(c *Call) ([]*Value, error) {
		var acc *Value
		for _, v := range c.Inputs {
			if v == nil {
				continue
			}
			if acc == nil {
				acc = v
				continue
			}
			shape, bc, err := broadcastPair(acc, v)
			if err != nil {
				return nil, err
			}
			out, err := c.Alloc(acc.DType, shape)
			if err != nil {
				return nil, err
			}
			if !minMaxOrArith(c.Threads(), binOp, out, acc, v, bc) {
				return nil, fmt.Errorf("%s is not defined for %v", op, acc.DType)
			}
			acc = out
		}
		if acc == nil {
			return nil, fmt.Errorf("%s needs at least one input", op)
		}
		if acc == c.Inputs[0] {
			return []*Value{View(acc, acc.Shape)}, nil
		}
		if op == "Mean" {
			n := 0
			for _, v := range c.Inputs {
				if v != nil {
					n++
				}
			}
			switch d := acc.Data.(type) {
			case []float32:
				for i := range d {
					d[i] /= float32(n)
				}
			case []float64:
				for i := range d {
					d[i] /= float64(n)
				}
			default:
				return nil, fmt.Errorf("needs float inputs, have %v", acc.DType)
			}
		}
		return []*Value{acc}, nil
	}
}

func minMaxOrArith(threads int, op string, out, a, b *Value, bc *bcast) bool {
	switch x := a.Data.(type) {
	case []float32:
		return minMax(threads, op, out.Data.([]float32), x, b.Data.([]float32), bc)
	case []float64:
		return minMax(threads, op, out.Data.([]float64), x, b.Data.([]float64), bc)
	case []int8:
		return minMax(threads, op, out.Data.([]int8), x, b.Data.([]int8), bc)
	case []int16:
		return minMax(threads, op, out.Data.([]int16), x, b.Data.([]int16), bc)
	case []int32:
		return minMax(threads, op, out.Data.([]int32), x, b.Data.([]int32), bc)
	case []int64:
		return minMax(threads, op, out.Data.([]int64), x, b.Data.([]int64), bc)
	case []uint8:
		return minMax(threads, op, out.Data.([]uint8), x, b.Data.([]uint8), bc)
	case []uint16:
		return minMax(threads, op, out.Data.([]uint16), x, b.Data.([]uint16), bc)
	case []uint32:
		return minMax(threads, op, out.Data.([]uint32), x, b.Data.([]uint32), bc)
	case []uint64:
		return minMax(threads, op, out.Data.([]uint64), x, b.Data.([]uint64), bc)
	}
	return false
}

func minMax[T number](threads int, op string, out, a, b []T, bc *bcast) bool {
	switch op {
	case "Max":
		binaryMap(threads, out, a, b, bc, func(x, y T) T {
			if x != x || x > y {
				return x
			}
			return y
		})
	case "Min":
		binaryMap(threads, out, a, b, bc, func(x, y T) T {
			if x != x || x < y {
				return x
			}
			return y
		})
	default:
		return arith(threads, op, false, out, a, b, bc)
	}
	return true
}

func whereKernel(c *Call) ([]*Value, error) {
	cond, x, y := c.Input(0), c.Input(1), c.Input(2)
	if cond == nil || x == nil || y == nil {
		return nil, fmt.Errorf("needs three inputs")
	}
	if cond.DType != tensor.Bool {
		return nil, fmt.Errorf("condition must be bool, have %v", cond.DType)
	}
	if x.DType != y.DType {
		return nil, fmt.Errorf("input types differ: %v and %v", x.DType, y.DType)
	}
	shape, err := BroadcastShape(cond.Shape, x.Shape, y.Shape)
	if err != nil {
		return nil, err
	}
	out, err := c.Alloc(x.DType, shape)
	if err != nil {
		return nil, err
	}
	bc := newBcast(shape, cond.Shape, x.Shape, y.Shape)
	switch o := out.Data.(type) {
	case []float32:
		where(c.Threads(), o, cond.Data.([]bool), x.Data.([]float32), y.Data.([]float32), bc)
	case []float64:
		where(c.Threads(), o, cond.Data.([]bool), x.Data.([]float64), y.Data.([]float64), bc)
	case []uint16:
		where(c.Threads(), o, cond.Data.([]bool), x.Data.([]uint16), y.Data.([]uint16), bc)
	case []int8:
		where(c.Threads(), o, cond.Data.([]bool), x.Data.([]int8), y.Data.([]int8), bc)
	case []int16:
		where(c.Threads(), o, cond.Data.([]bool), x.Data.([]int16), y.Data.([]int16), bc)
	case []int32:
		where(c.Threads(), o, cond.Data.([]bool), x.Data.([]int32), y.Data.([]int32), bc)
	case []int64:
		where(c.Threads(), o, cond.Data.([]bool), x.Data.([]int64), y.Data.([]int64), bc)
	case []uint8:
		where(c.Threads(), o, cond.Data.([]bool), x.Data.([]uint8), y.Data.([]uint8), bc)
	case []uint32:
		where(c.Threads(), o, cond.Data.([]bool), x.Data.([]uint32), y.Data.([]uint32), bc)
	case []uint64:
		where(c.Threads(), o, cond.Data.([]bool), x.Data.([]uint64), y.Data.([]uint64), bc)
	case []bool:
		where(c.Threads(), o, cond.Data.([]bool), x.Data.([]bool), y.Data.([]bool), bc)
	}
	return []*Value{out}, nil
}

func where[T any](threads int, out []T, cond []bool, x, y []T, bc *bcast) {
	n := bc.rowLen()
	sc, sx, sy := bc.inner(0), bc.inner(1), bc.inner(2)
	bc.each(threads, func(o int, offs []int) {
		for i := 0; i < n; i++ {
			if cond[offs[0]+i*sc] {
				out[o+i] = x[offs[1]+i*sx]
			} else {
				out[o+i] = y[offs[2]+i*sy]
			}
		}
	})
}

func signedKernel(op string) Kernel {
	return func(c *Call) ([]*Value, error) {
		a := c.Input(0)
		out, err := c.Alloc(a.DType, a.Shape)
		if err != nil {
			return nil, err
		}
		ok := true
		switch x := a.Data.(type) {
		case []float32:
			signed(c.Threads(), op, out.Data.([]float32), x)
		case []float64:
			signed(c.Threads(), op, out.Data.([]float64), x)
		case []int8:
			signed(c.Threads(), op, out.Data.([]int8), x)
		case []int16:
			signed(c.Threads(), op, out.Data.([]int16), x)
		case []int32:
			signed(c.Threads(), op, out.Data.([]int32), x)
		case []int64:
			signed(c.Threads(), op, out.Data.([]int64), x)
		case []uint8:
			signed(c.Threads(), op, out.Data.([]uint8), x)
		case []uint16:
			signed(c.Threads(), op, out.Data.([]uint16), x)
		case []uint32:
			signed(c.Threads(), op, out.Data.([]uint32), x)
		case []uint64:
			signed(c.Threads(), op, out.Data.([]uint64), x)
		default:
			ok = false
		}
		if !ok {
			return nil, fmt.Errorf("%s is not defined for %v", op, a.DType)
		}
		return []*Value{out}, nil
	}
}

func signed[T number](threads int, op string, out, in []T) {
	switch op {
	case "Neg":
		unaryMap(threads, out, in, func(x T) T { return -x })
	case "Abs":
		unaryMap(threads, out, in, func(x T) T {
			if x < 0 {
				return -x
			}
			return x
		})
	default:
		unaryMap(threads, out, in, func(x T) T {
			switch {
			case x > 0:
				return 1
			case x < 0:
				return T(0) - 1
			}
			return x // zero or NaN
		})
	}
}

func isKernel(op string) Kernel {
	return func(c *Call) ([]*Value, error) {
		a := c.Input(0)
		var a1 attrs
		neg := a1.int(c.Node, "detect_negative", 1) != 0
		pos := a1.int(c.Node, "detect_positive", 1) != 0
		if a1.err != nil {
			return nil, a1.err
		}
		f := func(x float64) bool {
			if op == "IsNaN" {
				return x != x
			}
			return (pos && math.IsInf(x, 1)) || (neg && math.IsInf(x, -1))
		}
		out, err := c.Alloc(tensor.Bool, a.Shape)
		if err != nil {
			return nil, err
		}
		switch x := a.Data.(type) {
		case []float32:
			unaryMap(c.Threads(), out.Data.([]bool), x, func(v float32) bool { return f(float64(v)) })
		case []float64:
			unaryMap(c.Threads(), out.Data.([]bool), x, f)
		default:
			return nil, fmt.Errorf("%s needs a float input, have %v", op, a.DType)
		}
		return []*Value{out}, nil
	}
}

// floatUnary holds the float-only unary ops; params reads a node's attributes once.
var floatUnary = map[string]func(n *Node) (func(float64) float64, error){
	"Sqrt":       plain(math.Sqrt),
	"Exp":        plain(math.Exp),
	"Log":        plain(math.Log),
	"Reciprocal": plain(func(x float64) float64 { return 1 / x }),
	"Floor":      plain(math.Floor),
	"Ceil":       plain(math.Ceil),
	"Round":      plain(math.RoundToEven),
	"Sin":        plain(math.Sin),
	"Cos":        plain(math.Cos),
	"Tan":        plain(math.Tan),
	"Asin":       plain(math.Asin),
	"Acos":       plain(math.Acos),
	"Atan":       plain(math.Atan),
	"Sinh":       plain(math.Sinh),
	"Cosh":       plain(math.Cosh),
	"Tanh":       plain(math.Tanh),
	"Asinh":      plain(math.Asinh),
	"Acosh":      plain(math.Acosh),
	"Atanh":      plain(math.Atanh),
	"Erf":        plain(math.Erf),
	"Sigmoid":    plain(sigmoid),
	"Relu":       plain(relu64),
	"Softplus":   plain(softplus),
	"Softsign":   plain(func(x float64) float64 { return x / (1 + math.Abs(x)) }),
	"Mish":       plain(func(x float64) float64 { return x * math.Tanh(softplus(x)) }),
	"HardSwish": plain(func(x float64) float64 {
		return x * max(0, min(1, x/6+0.5))
	}),
	"HardSigmoid": func(n *Node) (func(float64) float64, error) {
		var a attrs
		alpha, beta := float64(a.float(n, "alpha", 0.2)), float64(a.float(n, "beta", 0.5))
		return func(x float64) float64 { return max(0, min(1, alpha*x+beta)) }, a.err
	},
	"LeakyRelu": func(n *Node) (func(float64) float64, error) {
		alpha, err := n.Float("alpha", 0.01)
		return func(x float64) float64 {
			if x < 0 {
				return float64(alpha) * x
			}
			return x
		}, err
	},
	"Elu": func(n *Node) (func(float64) float64, error) {
		alpha, err := n.Float("alpha", 1)
		return func(x float64) float64 {
			if x < 0 {
				return float64(alpha) * (math.Exp(x) - 1)
			}
			return x
		}, err
	},
	"Celu": func(n *Node) (func(float64) float64, error) {
		alpha, err := n.Float("alpha", 1)
		a := float64(alpha)
		return func(x float64) float64 { return max(0, x) + min(0, a*(math.Exp(x/a)-1)) }, err
	},
	"Selu": func(n *Node) (func(float64) float64, error) {
		var at attrs
		alpha := float64(at.float(n, "alpha", 1.67326319217681884765625))
		gamma := float64(at.float(n, "gamma", 1.05070102214813232421875))
		return func(x float64) float64 {
			if x <= 0 {
				return gamma * (alpha*math.Exp(x) - alpha)
			}
			return gamma * x
		}, at.err
	},
	"ThresholdedRelu": func(n *Node) (func(float64) float64, error) {
		alpha, err := n.Float("alpha", 1)
		return func(x float64) float64 {
			if x > float64(alpha) {
				return x
			}
			return 0
		}, err
	},
	"Gelu": func(n *Node) (func(float64) float64, error) {
		approx, err := n.String("approximate", "none")
		if approx == "tanh" {
			return func(x float64) float64 {
				return 0.5 * x * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(x+0.044715*x*x*x)))
			}, err
		}
		return func(x float64) float64 { return 0.5 * x * (1 + math.Erf(x/math.Sqrt2)) }, err
	},
}

func plain(f func(float64) float64) func(*Node) (func(float64) float64, error) {
	return func(*Node) (func(float64) float64, error) { return f, nil }
}

func sigmoid(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + math.Exp(-x))
	}
	e := math.Exp(x)
	return e / (1 + e)
}

func softplus(x float64) float64 {
	if x > 30 {
		return x
	}
	return math.Log1p(math.Exp(x))
}

func floatKernel(op string) Kernel {
	build := floatUnary[op]
	return func(c *Call) ([]*Value, error) {
		a := c.Input(0)
		f, err := build(c.Node)
		if err != nil {
			return nil, err
		}
		out, err := c.allocRaw(a.DType, a.Shape)
		if err != nil {
			return nil, err
		}
		switch x := a.Data.(type) {
		case []float32:
			o := out.Data.([]float32)
			if op == "Relu" {
				parallel.For(c.Threads(), len(x), 1<<15, func(lo, hi int) {
					dst := o[lo:hi]
					for i, v := range x[lo:hi] {
						dst[i] = blas.Relu(v) // as the fused Relu: -0 and NaNs stay
					}
				})
				break
			}
			unaryMap(c.Threads(), o, x, func(v float32) float32 { return float32(f(float64(v))) })
		case []float64:
			unaryMap(c.Threads(), out.Data.([]float64), x, f)
		default:
			if op == "Relu" && a.DType.Signed() { // opset 14 allows signed integers
				v, err := castValue(c, a, tensor.F64)
				if err != nil {
					return nil, err
				}
				r, err := castValue(c, &Value{DType: tensor.F64, Shape: a.Shape, Data: mapSlice(v.Data.([]float64), f)}, a.DType)
				if err != nil {
					return nil, err
				}
				return []*Value{r}, nil
			}
			return nil, fmt.Errorf("%s needs a float input, have %v", op, a.DType)
		}
		return []*Value{out}, nil
	}
}

func mapSlice(in []float64, f func(float64) float64) []float64 {
	out := make([]float64, len(in))
	for i, x := range in {
		out[i] = f(x)
	}
	return out
}

func preluKernel(c *Call) ([]*Value, error) {
	x, slope, err := twoInputs(c)
	if err != nil {
		return nil, err
	}
	if x.DType != slope.DType {
		return nil, fmt.Errorf("input types differ: %v and %v", x.DType, slope.DType)
	}
	sshape := slope.Shape
	// Opset <7 allowed a per-channel slope [C] against [N, C, ...]: align it to axis 1.
	if len(sshape) == 1 && len(x.Shape) > 2 && sshape[0] == x.Shape[1] && sshape[0] != x.Shape[len(x.Shape)-1] {
		sshape = append([]int64{sshape[0]}, make([]int64, len(x.Shape)-2)...)
		for i := 1; i < len(sshape); i++ {
			sshape[i] = 1
		}
	}
	shape, err := BroadcastShape(x.Shape, sshape)
	if err != nil {
		return nil, err
	}
	bc := newBcast(shape, x.Shape, sshape)
	out, err := c.Alloc(x.DType, shape)
	if err != nil {
		return nil, err
	}
	switch a := x.Data.(type) {
	case []float32:
		binaryMap(c.Threads(), out.Data.([]float32), a, slope.Data.([]float32), bc, func(v, s float32) float32 {
			if v < 0 {
				return v * s
			}
			return v
		})
	case []float64:
		binaryMap(c.Threads(), out.Data.([]float64), a, slope.Data.([]float64), bc, func(v, s float64) float64 {
			if v < 0 {
				return v * s
			}
			return v
		})
	default:
		return nil, fmt.Errorf("PRelu needs float inputs, have %v", x.DType)
	}
	return []*Value{out}, nil
}

func clipKernel(c *Call) ([]*Value, error) {
	x := c.Input(0)
	lo, hi := math.Inf(-1), math.Inf(1)
	if c.Opset < 11 {
		var a attrs
		lo = float64(a.float(c.Node, "min", float32(math.Inf(-1))))
		hi = float64(a.float(c.Node, "max", float32(math.Inf(1))))
		if a.err != nil {
			return nil, a.err
		}
	} else {
		if v := c.Input(1); v != nil {
			if v.Len() != 1 {
				return nil, fmt.Errorf("min must be a scalar, have %v", v)
			}
			lo = elemFloat64(v, 0)
		}
		if v := c.Input(2); v != nil {
			if v.Len() != 1 {
				return nil, fmt.Errorf("max must be a scalar, have %v", v)
			}
			hi = elemFloat64(v, 0)
		}
	}
	out, err := c.Alloc(x.DType, x.Shape)
	if err != nil {
		return nil, err
	}
	switch a := x.Data.(type) {
	case []float32:
		l, h := float32(lo), float32(hi)
		unaryMap(c.Threads(), out.Data.([]float32), a, func(v float32) float32 { return clipValue(v, l, h) })
	case []float64:
		unaryMap(c.Threads(), out.Data.([]float64), a, func(v float64) float64 { return clipValue(v, lo, hi) })
	default:
		if !x.DType.Integer() {
			return nil, fmt.Errorf("not defined for %v", x.DType)
		}
		r, err := castValue(c, x, tensor.F64)
		if err != nil {
			return nil, err
		}
		f := r.Data.([]float64)
		for i := range f {
			f[i] = min(max(f[i], lo), hi)
		}
		r, err = castValue(c, &Value{DType: tensor.F64, Shape: x.Shape, Data: f}, x.DType)
		if err != nil {
			return nil, err
		}
		return []*Value{r}, nil
	}
	return []*Value{out}, nil
}

func shrinkKernel(c *Call) ([]*Value, error) {
	x := c.Input(0)
	if x == nil {
		return nil, fmt.Errorf("needs an input")
	}
	var a attrs
	lambd := float64(a.float(c.Node, "lambd", 0.5))
	bias := float64(a.float(c.Node, "bias", 0))
	if a.err != nil {
		return nil, a.err
	}
	if !x.DType.Float() && !x.DType.Integer() {
		return nil, fmt.Errorf("not defined for %v", x.DType)
	}
	out, err := c.Alloc(x.DType, x.Shape)
	if err != nil {
		return nil, err
	}
	if xs, ok := x.Data.([]float32); ok {
		o := out.Data.([]float32)
		l, b := float32(lambd), float32(bias)
		for i, v := range xs {
			switch {
			case v < -l:
				o[i] = v + b
			case v > l:
				o[i] = v - b
			}
		}
		return []*Value{out}, nil
	}
	for i := 0; i < x.Len(); i++ {
		v := elemFloat64(x, i)
		switch {
		case v < -lambd:
			setFloat64(out, i, v+bias)
		case v > lambd:
			setFloat64(out, i, v-bias)
		}
	}
	return []*Value{out}, nil
}

// relu64 is Relu as ONNX Runtime computes it (blas.Relu): -0 and NaNs stay.
func relu64(x float64) float64 {
	if x < 0 {
		return 0
	}
	return x
}

// clipValue is Clip as ONNX Runtime computes it: v raised to lo, then lowered to hi. A
// NaN v stays as it is (bits included), a NaN bound is ignored, -0 stays -0 when lo
// is 0, and lo > hi gives hi.
func clipValue[T float32 | float64](v, lo, hi T) T {
	if v < lo {
		v = lo
	}
	if v > hi {
		v = hi
	}
	return v
}
