package tokenizer

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"strings"

	"github.com/refit-ml/refit"
)

// configRoles maps GGUF roles to the Hugging Face names: "<name>_token" in
// tokenizer_config.json and "<name>_token_id" in config.json.
var configRoles = map[string]string{
	"bos": "bos", "eos": "eos", "unknown": "unk", "seperator": "sep", "padding": "pad", "mask": "mask",
}

// applySpecial sets special ids, add_bos/add_eos and the chat template. tj may be
// nil; cfg and modelCfg are the optional tokenizer_config.json and config.json.
func (v *Vocab) applySpecial(tj *tokenizerJSON, cfg, modelCfg []byte) error {
	if v.Special == nil {
		v.Special = map[string]uint32{}
	}
	var tc map[string]json.RawMessage
	if cfg != nil {
		if err := json.Unmarshal(cfg, &tc); err != nil {
			return &refit.FormatError{Format: "tokenizer", Offset: -1, Msg: "tokenizer_config.json", Err: err}
		}
	}
	content := map[string]string{}
	for role, hf := range configRoles {
		text, ok := tokenText(tc[hf+"_token"])
		if !ok {
			continue
		}
		content[role] = text
		if id, ok := v.id(text); ok {
			v.Special[role] = id
		}
	}
	if modelCfg != nil {
		var mc map[string]json.RawMessage
		if err := json.Unmarshal(modelCfg, &mc); err != nil {
			return &refit.FormatError{Format: "tokenizer", Offset: -1, Msg: "config.json", Err: err}
		}
		for role, hf := range configRoles {
			if _, set := v.Special[role]; set {
				continue
			}
			if id, ok := firstID(mc[hf+"_token_id"]); ok && id < uint64(len(v.Tokens)) {
				v.Special[role] = uint32(id)
			}
		}
	}
	for role, id := range v.Special {
		if int64(id) >= int64(len(v.Tokens)) {
			delete(v.Special, role)
		}
	}
	if b, ok := boolField(tc["add_bos_token"]); ok {
		v.AddBOS = boolPtr(b)
	}
	if b, ok := boolField(tc["add_eos_token"]); ok {
		v.AddEOS = boolPtr(b)
	}
	if tj != nil && (v.AddBOS == nil || v.AddEOS == nil) {
		bos, eos := templateSpecials(tj.PostProcessor)
		if v.AddBOS == nil && bos != "" {
			v.AddBOS = boolPtr(bos == content["bos"])
		}
		if v.AddEOS == nil && eos != "" {
			v.AddEOS = boolPtr(eos == content["eos"])
		}
	}
	v.ChatTemplate = chatTemplate(tc["chat_template"])
	var named []struct {
		Name     string `json:"name"`
		Template string `json:"template"`
	}
	if raw := tc["chat_template"]; len(raw) > 0 && json.Unmarshal(raw, &named) == nil {
		for _, n := range named {
			if n.Name != "default" && n.Name != "" {
				if v.NamedTemplates == nil {
					v.NamedTemplates = map[string]string{}
				}
				v.NamedTemplates[n.Name] = n.Template
			}
		}
	}
	return nil
}

// tokenText reads "<s>" or {"content": "<s>", ...}.
func tokenText(raw json.RawMessage) (string, bool) {
	if len(raw) == 0 {
		return "", false
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, s != ""
	}
	var obj struct {
		Content string `json:"content"`
	}
	if json.Unmarshal(raw, &obj) == nil && obj.Content != "" {
		return obj.Content, true
	}
	return "", false
}

// firstID reads 2 or [2, 7] (several EOS ids: the first is the EOS token).
func firstID(raw json.RawMessage) (uint64, bool) {
	if len(raw) == 0 {
		return 0, false
	}
	var n uint64
	if json.Unmarshal(raw, &n) == nil {
		return n, true
	}
	var list []uint64
	if json.Unmarshal(raw, &list) == nil && len(list) > 0 {
		return list[0], true
	}
	return 0, false
}

func boolField(raw json.RawMessage) (bool, bool) {
	var b bool
	if len(raw) == 0 || json.Unmarshal(raw, &b) != nil {
		return false, false
	}
	return b, true
}

// templateSpecials returns the special tokens a TemplateProcessing post-processor puts
// before and after a single sequence ("" when none).
func templateSpecials(raw json.RawMessage) (first, last string) {
	var pp struct {
		Type   string `json:"type"`
		Single []struct {
			SpecialToken *struct {
				ID string `json:"id"`
			} `json:"SpecialToken"`
		} `json:"single"`
	}
	if len(bytes.TrimSpace(raw)) == 0 || json.Unmarshal(raw, &pp) != nil || pp.Type != "TemplateProcessing" || len(pp.Single) == 0 {
		return "", ""
	}
	if s := pp.Single[0].SpecialToken; s != nil {
		first = s.ID
	}
	if s := pp.Single[len(pp.Single)-1].SpecialToken; s != nil && len(pp.Single) > 1 {
		last = s.ID
	}
	return first, last
}

// chatTemplate reads a template string or the "default" of a list of named templates.
func chatTemplate(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var named []struct {
		Name     string `json:"name"`
		Template string `json:"template"`
	}
	if json.Unmarshal(raw, &named) == nil {
		for _, n := range named {
			if n.Name == "default" {
				return n.Template
			}
		}
	}
	return ""
}

// applyAddedTokens applies tokenizer_config.json's added_tokens_decoder to a
// SentencePiece vocabulary, as llama.cpp's converter does: tokens the config adds or
// redefines become CONTROL (special) or USER_DEFINED with score -1000.
func (v *Vocab) applyAddedTokens(cfg []byte) error {
	if cfg == nil {
		return nil
	}
	var tc struct {
		Added map[string]struct {
			Content string `json:"content"`
			Special bool   `json:"special"`
		} `json:"added_tokens_decoder"`
	}
	if err := json.Unmarshal(cfg, &tc); err != nil {
		return &refit.FormatError{Format: "tokenizer", Offset: -1, Msg: "tokenizer_config.json", Err: err}
	}
	keys := make([]string, 0, len(tc.Added))
	for k := range tc.Added {
		keys = append(keys, k)
	}
	slices.Sort(keys) // "5" and "05" may name one id: apply in a fixed order
	for _, key := range keys {
		a := tc.Added[key]
		id, err := strconv.ParseUint(key, 10, 32)
		if err != nil || id >= uint64(len(v.Tokens)) {
			continue // out of the model's vocabulary: llama.cpp's converter ignores it too
		}
		text := a.Content
		if a.Special || looksSpecial(text) {
			v.Types[id] = Control
		} else {
			text = strings.ReplaceAll(text, "\u2581", " ") // user-defined spaces, pre-normalized
			v.Types[id] = UserDefined
		}
		v.Tokens[id], v.Scores[id] = text, -1000
	}
	return nil
}
