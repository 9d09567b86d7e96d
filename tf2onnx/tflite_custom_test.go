package tf2onnx

import (
	"bytes"
	"context"
	"math"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/refit-ml/refit/runtime"
)

// matMul4 multiplies row-major 4x4 matrices.
func matMul4(a, b [16]float64) [16]float64 {
	var out [16]float64
	for r := range 4 {
		for c := range 4 {
			for k := range 4 {
				out[r*4+c] += a[r*4+k] * b[k*4+c]
			}
		}
	}
	return out
}

// refLandmarksToMatrix is Landmarks2TransformMatrix version 2 as MediaPipe defines
// it, step by step in float64 (atan2 and the chain of 4x4 matrices).
func refLandmarksToMatrix(l []float32, left, right int, target float64, subset []int, oh, ow, scaleX, scaleY float64) [16]float64 {
	at := func(i int) (float64, float64) { return float64(l[3*i]), float64(l[3*i+1]) }
	lx, ly := at(left)
	rx, ry := at(right)
	r := target - math.Atan2(ry-ly, rx-lx)
	minX, minY, maxX, maxY := math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)
	for _, i := range subset {
		x, y := at(i)
		px, py := math.Cos(r)*x-math.Sin(r)*y, math.Sin(r)*x+math.Cos(r)*y
		minX, maxX, minY, maxY = min(minX, px), max(maxX, px), min(minY, py), max(maxY, py)
	}
	mx, my := (minX+maxX)/2, (minY+maxY)/2
	cx, cy := math.Cos(-r)*mx-math.Sin(-r)*my, math.Sin(-r)*mx+math.Cos(-r)*my
	id := [16]float64{1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1}
	shift := func(x, y float64) [16]float64 { m := id; m[3], m[7] = x, y; return m }
	rot := id
	rot[0], rot[1], rot[4], rot[5] = math.Cos(-r), -math.Sin(-r), math.Sin(-r), math.Cos(-r)
	scale := id
	scale[0], scale[5] = scaleX*(maxX-minX)/ow, scaleY*(maxY-minY)/oh
	t := matMul4(shift(cx, cy), rot)
	t = matMul4(t, scale)
	return matMul4(t, shift(-ow/2, -oh/2))
}

// refTransformTensorBilinear is TransformTensorBilinear version 2 as MediaPipe
// defines it: the align-corners correction of the matrix, then per output pixel a
// bounds test and bilinear sampling with zero outside the input.
func refTransformTensorBilinear(x []float32, h, w, ch int, m [16]float64, oh, ow int) []float64 {
	xt := [4]float64{m[0], m[1], m[2], m[3]}
	yt := [4]float64{m[4], m[5], m[6], m[7]}
	xt[3] += xt[0]*0.5 + xt[1]*0.5 - 0.5
	yt[3] += yt[0]*0.5 + yt[1]*0.5 - 0.5
	out := make([]float64, oh*ow*ch)
	for oy := range oh {
		for ox := range ow {
			tx := xt[0]*float64(ox) + xt[1]*float64(oy) + xt[3]
			ty := yt[0]*float64(ox) + yt[1]*float64(oy) + yt[3]
			if tx < 0 || tx > float64(w-1) || ty < 0 || ty > float64(h-1) {
				continue
			}
			fx, fy := math.Floor(tx), math.Floor(ty)
			at := func(y, xx float64, c int) float64 {
				yi, xi := int(y), int(xx)
				if yi < 0 || xi < 0 || yi >= h || xi >= w {
					return 0
				}
				return float64(x[(yi*w+xi)*ch+c])
			}
			for c := range ch {
				rc, lc := tx-fx, ty-fy
				upper := (1-rc)*at(fy, fx, c) + rc*at(fy, fx+1, c)
				lower := (1-rc)*at(fy+1, fx, c) + rc*at(fy+1, fx+1, c)
				out[(oy*ow+ox)*ch+c] = lc*lower + (1-lc)*upper
			}
		}
	}
	return out
}

// TestTFLiteLandmarkOps checks the graphs of MediaPipe's Landmarks2TransformMatrix,
// TransformTensorBilinear and TransformLandmarks (version 2, as chained in
// face_landmark_with_attention.tflite) against the operators' definitions on
// format/tflite's generated fixture. TFLite's interpreter (tfjs-tflite) has no
// kernels for these operators, so the definitions are the reference.
func TestTFLiteLandmarkOps(t *testing.T) {
	b, err := os.ReadFile("../format/tflite/testdata/landmark_ops.tflite")
	if err != nil {
		t.Fatal(err)
	}
	mp, err := TFLite(context.Background(), bytes.NewReader(b), int64(len(b)), nil)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(19, 5))
	const h, w, ch = 6, 5, 2
	sampled := 0 // output pixels that fall inside the feature map
	for trial := range 20 {
		landmarks := make([]float32, 10*3)
		for i := range 10 { // spread over the feature map, in pixels
			landmarks[3*i], landmarks[3*i+1], landmarks[3*i+2] = float32(r.Float64()*w), float32(r.Float64()*h), float32(r.Float64())
		}
		features := make([]float32, h*w*ch)
		for i := range features {
			features[i] = float32(r.Float64()*2 - 1)
		}
		points := make([]float32, 4*2)
		for i := range points {
			points[i] = float32(r.Float64()*4 - 1)
		}
		in := map[string]*runtime.Value{}
		for name, v := range map[string]struct {
			data  []float32
			shape []int64
		}{"landmarks": {landmarks, []int64{1, 10, 3}}, "features": {features, []int64{1, h, w, ch}}, "points": {points, []int64{1, 4, 2}}} {
			if in[name], err = runtime.FromSlice(v.data, v.shape...); err != nil {
				t.Fatal(err)
			}
		}
		got := runRefit(t, mp, in)
		m := refLandmarksToMatrix(landmarks, 1, 4, float64(float32(0.3)), []int{0, 2, 5, 7, 9}, 4, 3, 1.5, 1.25)
		var m32 [16]float64 // the later operators see the matrix as float32
		for i, v := range got[0].Float32s() {
			m32[i] = float64(v)
		}
		wantPoints := make([]float64, 8)
		for i := range 4 {
			x, y := float64(points[2*i]), float64(points[2*i+1])
			wantPoints[2*i] = m32[0]*x + m32[1]*y + m32[3]
			wantPoints[2*i+1] = m32[4]*x + m32[5]*y + m32[7]
		}
		for _, v := range got[1].Float32s() {
			if v != 0 {
				sampled++
			}
		}
		for k, want := range [][]float64{m[:], refTransformTensorBilinear(features, h, w, ch, m32, 4, 3), wantPoints} {
			g := got[k].Float32s()
			if len(g) != len(want) {
				t.Fatalf("output %d: %d values, want %d", k, len(g), len(want))
			}
			for i := range want {
				if d := math.Abs(float64(g[i]) - want[i]); d > 1e-4*max(1, math.Abs(want[i])) {
					t.Fatalf("trial %d, output %d [%d]: %g, want %g", trial, k, i, g[i], want[i])
				}
			}
		}
	}
	if sampled < 20*24/4 {
		t.Errorf("only %d of %d sampled values inside the feature map: the comparison is nearly vacuous", sampled, 20*24)
	}
}

// refMaxPoolArgmax is MaxPoolingWithArgmax2D as MediaPipe defines it (NHWC, batch 1):
// windows clamped to the input, the first maximum wins, and its index is
// max_y * filter_w + max_x + 0.1.
func refMaxPoolArgmax(x []float32, h, w, ch, f, s, padY, padX, oh, ow int) (vals, idx []float64) {
	for oy := range oh {
		for ox := range ow {
			for c := range ch {
				best, by, bx := math.Inf(-1), 0, 0
				for fy := range f {
					for fx := range f {
						y, xx := oy*s-padY+fy, ox*s-padX+fx
						if y < 0 || y >= h || xx < 0 || xx >= w {
							continue
						}
						if v := float64(x[(y*w+xx)*ch+c]); v > best {
							best, by, bx = v, fy, fx
						}
					}
				}
				vals = append(vals, best)
				idx = append(idx, float64(float32(by*f+bx)+0.1))
			}
		}
	}
	return vals, idx
}

// TestTFLitePoolOps checks MaxPoolingWithArgmax2D and MaxUnpooling2D against their
// definitions on format/tflite's generated fixture (SAME 3x3/2 with a leading pad,
// VALID 2x2/2, and the unpooling of the latter).
func TestTFLitePoolOps(t *testing.T) {
	b, err := os.ReadFile("../format/tflite/testdata/pool_ops.tflite")
	if err != nil {
		t.Fatal(err)
	}
	mp, err := TFLite(context.Background(), bytes.NewReader(b), int64(len(b)), nil)
	if err != nil {
		t.Fatal(err)
	}
	const h, w, ch = 5, 6, 2
	r := rand.New(rand.NewPCG(19, 6))
	x := make([]float32, h*w*ch)
	for i := range x {
		x[i] = float32(r.IntN(9)) - 4 // repeats, so ties occur: the first maximum must win
	}
	in, err := runtime.FromSlice(x, 1, h, w, ch)
	if err != nil {
		t.Fatal(err)
	}
	got := runRefit(t, mp, map[string]*runtime.Value{mp.Graph.Input[0].GetName(): in})
	sameV, sameI := refMaxPoolArgmax(x, h, w, ch, 3, 2, 1, 0, 3, 3) // total padding 2 rows, 1 column
	validV, validI := refMaxPoolArgmax(x, h, w, ch, 2, 2, 0, 0, 2, 3)
	unpooled := make([]float64, 4*6*ch)
	for y := range 2 {
		for xx := range 3 {
			for c := range ch {
				k := int(validI[(y*3+xx)*ch+c])
				oy, ox := y*2+k/2, xx*2+k%2
				unpooled[(oy*6+ox)*ch+c] = validV[(y*3+xx)*ch+c]
			}
		}
	}
	for k, want := range [][]float64{sameV, sameI, validV, validI, unpooled} {
		g := got[k].Float32s()
		if len(g) != len(want) {
			t.Fatalf("output %d: %d values, want %d", k, len(g), len(want))
		}
		for i := range want {
			if float64(g[i]) != want[i] {
				t.Fatalf("output %d [%d]: %g, want %g", k, i, g[i], want[i])
			}
		}
	}
}
