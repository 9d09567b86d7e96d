package tflite

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	flatbuffers "github.com/google/flatbuffers/go"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/tflite/internal/schema"
)

// buildOps writes a model whose one subgraph has a CONV_2D with options (padding
// VALID, stride_w 2, fused activation RELU6, dilation_w_factor 1 left to its default)
// and a custom operator "Foo".
func buildOps() []byte {
	b := flatbuffers.NewBuilder(256)
	foo := b.CreateString("Foo")
	schema.OperatorCodeStart(b)
	schema.OperatorCodeAddBuiltinCode(b, 3) // CONV_2D
	conv := schema.OperatorCodeEnd(b)
	schema.OperatorCodeStart(b)
	schema.OperatorCodeAddDeprecatedBuiltinCode(b, 32) // CUSTOM
	schema.OperatorCodeAddBuiltinCode(b, 32)
	schema.OperatorCodeAddCustomCode(b, foo)
	custom := schema.OperatorCodeEnd(b)
	schema.ModelStartOperatorCodesVector(b, 2)
	b.PrependUOffsetT(custom)
	b.PrependUOffsetT(conv)
	codes := b.EndVector(2)

	b.StartObject(7) // Conv2DOptions
	b.PrependInt8Slot(0, 1, 0)
	b.PrependInt32Slot(1, 2, 0)
	b.PrependInt8Slot(3, 3, 0)
	opts := b.EndObject()
	in0, out0 := int32Vector(b, []int32{0, 1, -1}), int32Vector(b, []int32{2})
	schema.OperatorStart(b)
	schema.OperatorAddInputs(b, in0)
	schema.OperatorAddOutputs(b, out0)
	schema.OperatorAddBuiltinOptionsType(b, 1)
	schema.OperatorAddBuiltinOptions(b, opts)
	op0 := schema.OperatorEnd(b)
	in1, out1 := int32Vector(b, []int32{2}), int32Vector(b, []int32{3})
	schema.OperatorStart(b)
	schema.OperatorAddOpcodeIndex(b, 1)
	schema.OperatorAddInputs(b, in1)
	schema.OperatorAddOutputs(b, out1)
	op1 := schema.OperatorEnd(b)
	schema.SubGraphStartOperatorsVector(b, 2)
	b.PrependUOffsetT(op1)
	b.PrependUOffsetT(op0)
	ops := b.EndVector(2)
	gin, gout := int32Vector(b, []int32{0}), int32Vector(b, []int32{3})
	schema.SubGraphStart(b)
	schema.SubGraphAddInputs(b, gin)
	schema.SubGraphAddOutputs(b, gout)
	schema.SubGraphAddOperators(b, ops)
	sg := schema.SubGraphEnd(b)
	schema.ModelStartSubgraphsVector(b, 1)
	b.PrependUOffsetT(sg)
	sgs := b.EndVector(1)
	schema.ModelStart(b)
	schema.ModelAddVersion(b, 3)
	schema.ModelAddOperatorCodes(b, codes)
	schema.ModelAddSubgraphs(b, sgs)
	b.FinishWithFileIdentifier(schema.ModelEnd(b), []byte(Identifier))
	return b.FinishedBytes()
}

func TestReadGraphs(t *testing.T) {
	m, err := Decode(bytes.NewReader(buildOps()), int64(len(buildOps())), nil)
	if err != nil {
		t.Fatal(err)
	}
	gs := m.Source.(*File).Graphs
	if len(gs) != 1 || len(gs[0].Operators) != 2 {
		t.Fatalf("graphs %+v", gs)
	}
	g := gs[0]
	if !slices.Equal(g.Inputs, []int32{0}) || !slices.Equal(g.Outputs, []int32{3}) {
		t.Errorf("subgraph inputs %v outputs %v", g.Inputs, g.Outputs)
	}
	conv, custom := g.Operators[0], g.Operators[1]
	if conv.Op != "CONV_2D" || !slices.Equal(conv.Inputs, []int32{0, 1, -1}) || !slices.Equal(conv.Outputs, []int32{2}) {
		t.Errorf("operator 0: %+v", conv)
	}
	o := conv.Options
	if o.Int8(0, 0) != 1 || o.Int32(1, 1) != 2 || o.Int32(2, 1) != 1 || o.Int8(3, 0) != 3 || o.Int32(5, 7) != 7 {
		t.Errorf("conv options padding %d stride %d,%d activation %d dilation %d",
			o.Int8(0, 0), o.Int32(1, 1), o.Int32(2, 1), o.Int8(3, 0), o.Int32(5, 7))
	}
	if custom.Op != "CUSTOM:Foo" || custom.Options.Float32(0, 0.5) != 0.5 || custom.Options.Bool(1) {
		t.Errorf("operator 1: %+v", custom)
	}
}

// TestReadGraphsMalformed truncates and corrupts the operator model at every byte:
// readGraphs runs without a recover, so an unchecked access would crash the test.
func TestReadGraphsMalformed(t *testing.T) {
	good := buildOps()
	for n := range len(good) {
		if _, err := readGraphs(good[:n]); err != nil && !errors.Is(err, refit.ErrFormat) {
			t.Fatalf("truncated to %d: %v is not ErrFormat", n, err)
		}
	}
	for i := range good {
		for _, v := range []byte{0x00, 0x7f, 0x80, 0xff} {
			b := bytes.Clone(good)
			b[i] = v
			gs, err := readGraphs(b)
			if err != nil {
				if !errors.Is(err, refit.ErrFormat) {
					t.Fatalf("byte %d = %#x: %v is not ErrFormat", i, v, err)
				}
				continue
			}
			for _, g := range gs { // options reads must stay in bounds too
				for _, op := range g.Operators {
					for f := range 8 {
						op.Options.Int32(f, 0)
						op.Options.Float32(f, 0)
						op.Options.Int8(f, 0)
					}
				}
			}
		}
	}
}
