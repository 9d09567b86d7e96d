package distill

import (
	"context"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/onnx"
	"github.com/refit-ml/refit/runtime"
)

// TestGradients compares analytic parameter gradients with central differences on
// the student CNN and the teacher with BatchNorm (Conv, MaxPool, Flatten, Gemm, BN).
// The 10% slack covers ReLU/MaxPool kinks crossed by the finite difference.
func TestGradients(t *testing.T) {
	for _, c := range []struct{ dir, file string }{
		{"distill", "student_cnn.onnx"},
		{"mnist", "mnist_cnn_bn.onnx"},
	} {
		t.Run(c.file, func(t *testing.T) {
			mp, err := onnx.Load(refit.DirFS(filepath.Join("..", "testdata", "models", c.dir)), c.file)
			if err != nil {
				t.Fatal(err)
			}
			g, err := compile(mp, nil)
			if err != nil {
				t.Fatal(err)
			}
			r := rand.New(rand.NewPCG(1, 2))
			x := make([]float32, 2*28*28)
			for i := range x {
				x[i] = r.Float32()
			}
			shape := []int64{2, 1, 28, 28}
			labels := []int64{3, 7}
			teacher := make([]float32, 20)
			for i := range teacher {
				teacher[i] = r.Float32()*4 - 2
			}
			lossAt := func() float64 {
				y, err := g.forward(x, shape)
				if err != nil {
					t.Fatal(err)
				}
				dy := make([]float32, len(y.data))
				l := 0.0
				for i := 0; i < 2; i++ {
					l += lossGrad(dy[i*10:(i+1)*10], y.data[i*10:(i+1)*10], teacher[i*10:(i+1)*10], labels[i], 0.5, 2, 2)
				}
				return l / 2
			}
			y, _ := g.forward(x, shape)
			dy := make([]float32, len(y.data))
			for i := 0; i < 2; i++ {
				lossGrad(dy[i*10:(i+1)*10], y.data[i*10:(i+1)*10], teacher[i*10:(i+1)*10], labels[i], 0.5, 2, 2)
			}
			g.backward(dy)
			grads := map[string][]float32{}
			for name, p := range g.params {
				if p.trainable && p.v.grad != nil {
					grads[name] = append([]float32(nil), p.v.grad...)
				}
			}
			checked := 0
			for _, name := range g.order {
				p := g.params[name]
				if !p.trainable {
					continue
				}
				for k := 0; k < 3; k++ {
					i := r.IntN(len(p.v.data))
					old := p.v.data[i]
					const h = 1e-3
					p.v.data[i] = old + h
					lp := lossAt()
					p.v.data[i] = old - h
					lm := lossAt()
					p.v.data[i] = old
					num := (lp - lm) / (2 * h)
					got := float64(grads[name][i])
					if math.Abs(num-got) > 2e-3+0.1*math.Abs(num) {
						t.Errorf("%s[%d]: analytic gradient %g, numeric %g", name, i, got, num)
					}
					checked++
				}
			}
			if checked == 0 {
				t.Fatal("no trainable parameters")
			}
		})
	}
}

// TestForwardMatchesRuntime checks the training forward pass against Refit's runtime.
func TestForwardMatchesRuntime(t *testing.T) {
	val := loadData(t, filepath.Join("..", "testdata", "models", "mnist", "test.npz"))
	for _, c := range []struct{ dir, file string }{
		{"distill", "student_cnn.onnx"},
		{"distill", "student_mlp.onnx"},
		{"mnist", "mnist_cnn.onnx"},
		{"mnist", "mnist_cnn_bn.onnx"},
	} {
		t.Run(c.file, func(t *testing.T) {
			mp, err := onnx.Load(refit.DirFS(filepath.Join("..", "testdata", "models", c.dir)), c.file)
			if err != nil {
				t.Fatal(err)
			}
			g, err := compile(mp, nil)
			if err != nil {
				t.Fatal(err)
			}
			s, err := runtime.Load(mp, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			x, shape := val.batch([]int{0, 1, 2, 3, 4, 5, 6, 7})
			y, err := g.forward(x, shape)
			if err != nil {
				t.Fatal(err)
			}
			want, _, err := Logits(context.Background(), s, &Data{X: x, Shape: shape}, 8)
			if err != nil {
				t.Fatal(err)
			}
			for i := range want {
				if d := math.Abs(float64(want[i] - y.data[i])); d > 1e-4+1e-4*math.Abs(float64(want[i])) {
					t.Fatalf("output %d = %g, runtime %g", i, y.data[i], want[i])
				}
			}
		})
	}
}
