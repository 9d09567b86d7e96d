package tokenizer

import (
	"math"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/refit-ml/refit"
)

// Field numbers of sentencepiece_model.proto used here.
const (
	fieldPieces            = 1 // ModelProto.pieces (repeated SentencePiece)
	fieldTrainerSpec       = 2 // ModelProto.trainer_spec
	fieldNormalizerSpec    = 3 // ModelProto.normalizer_spec
	fieldPiece             = 1 // SentencePiece.piece
	fieldScore             = 2 // SentencePiece.score (float)
	fieldType              = 3 // SentencePiece.type (enum, 1..6 as TokenType)
	fieldAddDummyPrefix    = 3 // NormalizerSpec.add_dummy_prefix (default true)
	fieldCharsmap          = 2 // NormalizerSpec.precompiled_charsmap
	fieldRemoveExtraSpaces = 4 // NormalizerSpec.remove_extra_whitespaces (default true)
	fieldModelType         = 3 // TrainerSpec.model_type: 1 unigram, 2 BPE
	fieldUnkID             = 40
	fieldBOSID             = 41
	fieldEOSID             = 42
	fieldPadID             = 43
)

// ParseSentencePiece reads a SentencePiece tokenizer.model (a ModelProto) into a
// "llama" vocabulary with scores and types. Special ids come from its trainer_spec
// (unk 0, bos 1, eos 2, no pad by default); tokenizer_config.json overrides them in Load.
func ParseSentencePiece(b []byte) (*Vocab, error) {
	v := &Vocab{Model: "llama", Pre: "default", Special: map[string]uint32{}}
	ids := map[string]int64{"unknown": 0, "bos": 1, "eos": 2, "padding": -1}
	addDummyPrefix, removeExtra := true, true
	modelType := uint64(0) // absent: read as BPE, which every llama-family file sets
	err := walk(b, func(num protowire.Number, typ protowire.Type, val []byte, n uint64) error {
		switch {
		case num == fieldPieces && typ == protowire.BytesType:
			if len(v.Tokens) >= MaxVocabSize {
				return errorf("tokenizer.model: more than %d pieces", MaxVocabSize)
			}
			return v.addPiece(val)
		case num == fieldTrainerSpec && typ == protowire.BytesType:
			return walk(val, func(num protowire.Number, typ protowire.Type, _ []byte, n uint64) error {
				if typ != protowire.VarintType {
					return nil
				}
				if num == fieldModelType {
					modelType = n
				}
				role := map[protowire.Number]string{fieldUnkID: "unknown", fieldBOSID: "bos", fieldEOSID: "eos", fieldPadID: "padding"}[num]
				if role != "" {
					ids[role] = int64(int32(n)) // int32 fields; -1 is sign-extended
				}
				return nil
			})
		case num == fieldNormalizerSpec && typ == protowire.BytesType:
			return walk(val, func(num protowire.Number, typ protowire.Type, val []byte, n uint64) error {
				switch {
				case num == fieldAddDummyPrefix && typ == protowire.VarintType:
					addDummyPrefix = n != 0
				case num == fieldRemoveExtraSpaces && typ == protowire.VarintType:
					removeExtra = n != 0
				case num == fieldCharsmap && typ == protowire.BytesType:
					v.Charsmap = append([]byte(nil), val...)
				}
				return nil
			})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(v.Tokens) == 0 {
		return nil, errorf("tokenizer.model has no pieces")
	}
	for role, id := range ids {
		if id >= 0 && id < int64(len(v.Tokens)) {
			v.Special[role] = uint32(id)
		}
	}
	v.AddSpacePrefix = boolPtr(addDummyPrefix)
	if modelType == 1 {
		// a Unigram model: llama.cpp's "t5" tokenizer, which also honours
		// remove_extra_whitespaces; BPE models ("llama") do not carry it
		v.Model = "t5"
		v.RemoveExtraSpaces = boolPtr(removeExtra)
	} else {
		v.Charsmap = nil
	}
	return v, nil
}

func (v *Vocab) addPiece(b []byte) error {
	var (
		piece string
		score float32
		typ   = Normal
	)
	err := walk(b, func(num protowire.Number, wt protowire.Type, val []byte, n uint64) error {
		switch {
		case num == fieldPiece && wt == protowire.BytesType:
			piece = string(val)
		case num == fieldScore && wt == protowire.Fixed32Type:
			score = math.Float32frombits(uint32(n))
		case num == fieldType && wt == protowire.VarintType:
			if n < uint64(Normal) || n > uint64(Byte) {
				return errorf("tokenizer.model: piece type %d", n)
			}
			typ = TokenType(n)
		}
		return nil
	})
	if err != nil {
		return err
	}
	v.Tokens = append(v.Tokens, piece)
	v.Scores = append(v.Scores, score)
	v.Types = append(v.Types, typ)
	return nil
}

// walk calls fn for each field of a protobuf message: val for length-delimited
// fields, n for varint and fixed ones. Groups are rejected.
func walk(b []byte, fn func(num protowire.Number, typ protowire.Type, val []byte, n uint64) error) error {
	for len(b) > 0 {
		num, typ, tagLen := protowire.ConsumeTag(b)
		if tagLen < 0 {
			return &refit.FormatError{Format: "tokenizer", Offset: -1, Msg: "tokenizer.model: bad protobuf tag", Err: protowire.ParseError(tagLen)}
		}
		b = b[tagLen:]
		var (
			val  []byte
			n    uint64
			size int
		)
		switch typ {
		case protowire.VarintType:
			n, size = protowire.ConsumeVarint(b)
		case protowire.Fixed32Type:
			var x uint32
			x, size = protowire.ConsumeFixed32(b)
			n = uint64(x)
		case protowire.Fixed64Type:
			n, size = protowire.ConsumeFixed64(b)
		case protowire.BytesType:
			val, size = protowire.ConsumeBytes(b)
		default:
			return errorf("tokenizer.model: unsupported protobuf wire type %d", typ)
		}
		if size < 0 {
			return &refit.FormatError{Format: "tokenizer", Offset: -1, Msg: "tokenizer.model: truncated protobuf field", Err: protowire.ParseError(size)}
		}
		b = b[size:]
		if err := fn(num, typ, val, n); err != nil {
			return err
		}
	}
	return nil
}
