#!/usr/bin/python3
"""Tiny Hugging Face-style LLM folders with random weights, their torch reference
outputs, and a llama.cpp runner (ctypes) for Refit's HF -> GGUF agreement tests.

  llm.py build OUTDIR         write OUTDIR/<arch>/ folders (config.json, weights,
                              tokenizer.json, tokenizer_config.json) and
                              OUTDIR/reference.json (token ids and last-position logits)
  llm.py llama LIBDIR GGUF PROMPTS.json
                              load GGUF with libllama, print JSON: tokenization of each
                              string and last-position logits for each id list

Written for Debian's python3-torch (no transformers, no tokenizers): the byte-level
BPE tokenizer is trained here on a fixed text, and each architecture's forward pass is
written here from its Hugging Face definition.
"""
import ctypes, glob, json, math, os, re, struct, sys

CORPUS = ("The quick brown fox jumps over the lazy dog. Refit converts models to GGUF, "
          "and llama.cpp runs them! Numbers like 123 and 4567 appear; so do words: "
          "hello, world, model, token, tokens, tokenizer, converter, weights, layers. "
          "It's what we'll test: don't they've I'm you'd. ") * 4

STRINGS = ["Hello world", "The quick brown fox", "tokens and tokenizers!", "It's 2024, isn't it?",
           "  leading spaces", "trailing  ", "a  b   c", "héllo wörld ünïcode", "x", "123456789",
           "converter: weights; layers."]

PROMPTS = ["The quick brown fox jumps", "hello world, model tokens 42"]

# GPT-2 pre-tokenizer regex with Python re classes: \p{L} -> [^\W\d_], \p{N} -> \d.
PRE = re.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?[^\W\d_]+| ?\d+| ?(?:[^\s\w]|_)+|\s+(?!\S)|\s+""")


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


B2U = bytes_to_unicode()


def words(text):
    return ["".join(B2U[b] for b in w.encode("utf-8")) for w in PRE.findall(text)]


def train_bpe(n_merges):
    counts = {}
    for w in words(CORPUS):
        counts[w] = counts.get(w, 0) + 1
    splits = {w: list(w) for w in counts}
    merges = []
    for _ in range(n_merges):
        pairs = {}
        for w, c in counts.items():
            s = splits[w]
            for a, b in zip(s, s[1:]):
                pairs[(a, b)] = pairs.get((a, b), 0) + c
        if not pairs:
            break
        best = min(pairs, key=lambda p: (-pairs[p], p))
        merges.append(best)
        for w in splits:
            s, out, i = splits[w], [], 0
            while i < len(s):
                if i + 1 < len(s) and (s[i], s[i + 1]) == best:
                    out.append(s[i] + s[i + 1])
                    i += 2
                else:
                    out.append(s[i])
                    i += 1
            splits[w] = out
    vocab = {}
    for b in range(256):
        vocab[B2U[b]] = len(vocab)
    for a, b in merges:
        if a + b not in vocab:
            vocab[a + b] = len(vocab)
    return vocab, merges


class BPE:
    def __init__(self, vocab, merges):
        self.vocab = vocab
        self.ranks = {m: i for i, m in enumerate(merges)}

    def word(self, w):
        s = list(w)
        while len(s) > 1:
            pairs = [(self.ranks.get((a, b), 1 << 30), i) for i, (a, b) in enumerate(zip(s, s[1:]))]
            r, i = min(pairs)
            if r == 1 << 30:
                break
            s = s[:i] + [s[i] + s[i + 1]] + s[i + 2:]
        return [self.vocab[t] for t in s]

    def encode(self, text):
        return [i for w in words(text) for i in self.word(w)]


def tokenizer_files(d, vocab, merges, add_bos):
    n = len(vocab)
    specials = [("<s>", n), ("</s>", n + 1)]
    tok = {
        "version": "1.0",
        "added_tokens": [{"id": i, "content": c, "single_word": False, "lstrip": False, "rstrip": False,
                          "normalized": False, "special": True} for c, i in specials],
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
        "post_processor": None,
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
                  "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False,
                  "vocab": vocab, "merges": [a + " " + b for a, b in merges]},
    }
    with open(os.path.join(d, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tok, f, ensure_ascii=False)
    cfg = {"bos_token": "<s>", "eos_token": "</s>", "add_bos_token": add_bos, "add_eos_token": False,
           "chat_template": "{% for m in messages %}<s>{{ m['role'] }}: {{ m['content'] }}</s>{% endfor %}",
           "model_max_length": 64}
    with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
        json.dump(cfg, f)
    return n + 2


# ---- a SentencePiece-style (BPE with scores and byte fallback) tokenizer.model

SP = "\u2581"


def train_spm(n_merges):
    """Character BPE inside whitespace-delimited words (each word starts with U+2581)."""
    text = SP + CORPUS.replace(" ", SP)
    wordlist = [SP + w for w in text.split(SP) if w]
    counts = {}
    for w in wordlist:
        counts[w] = counts.get(w, 0) + 1
    splits = {w: list(w) for w in counts}
    chars = sorted({ch for w in counts for ch in w})
    pieces = []
    for _ in range(n_merges):
        pairs = {}
        for w, c in counts.items():
            sp = splits[w]
            for a, b in zip(sp, sp[1:]):
                pairs[(a, b)] = pairs.get((a, b), 0) + c
        if not pairs:
            break
        best = min(pairs, key=lambda p: (-pairs[p], p))
        if best[0] + best[1] not in pieces:
            pieces.append(best[0] + best[1])
        for w in splits:
            sp, out, i = splits[w], [], 0
            while i < len(sp):
                if i + 1 < len(sp) and (sp[i], sp[i + 1]) == best:
                    out.append(sp[i] + sp[i + 1])
                    i += 2
                else:
                    out.append(sp[i])
                    i += 1
            splits[w] = out
    # id: (piece, score, type) with sentencepiece types 1 normal, 2 unknown, 3 control, 6 byte
    vocab = [("<unk>", 0.0, 2), ("<s>", 0.0, 3), ("</s>", 0.0, 3)]
    vocab += [("<0x%02X>" % b, 0.0, 6) for b in range(256)]
    vocab += [(p, -float(i), 1) for i, p in enumerate(pieces)]
    vocab += [(ch, -1000.0 - i, 1) for i, ch in enumerate(chars) if ch not in pieces]
    return vocab


class SPM:
    def __init__(self, vocab, add_dummy_prefix):
        self.ids = {p: i for i, (p, _, t) in enumerate(vocab) if t == 1}
        self.scores = {p: sc for p, sc, t in vocab if t == 1}
        self.prefix = add_dummy_prefix

    def encode(self, text):
        if not text:
            return []
        t = (" " + text if self.prefix else text).replace(" ", SP)
        sym = list(t)
        while True:
            best = None
            for i in range(len(sym) - 1):
                m = sym[i] + sym[i + 1]
                if m in self.scores and (best is None or self.scores[m] > best[0]):
                    best = (self.scores[m], i)
            if best is None:
                break
            i = best[1]
            sym[i:i + 2] = [sym[i] + sym[i + 1]]
        out = []
        for x in sym:
            if x in self.ids:
                out.append(self.ids[x])
            else:
                out += [3 + b for b in x.encode("utf-8")]
        return out


def varint(n):
    n &= (1 << 64) - 1
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def field(num, wire, payload):
    tag = varint(num << 3 | wire)
    if wire == 0:
        return tag + varint(payload)
    if wire == 5:
        return tag + struct.pack("<f", payload)
    return tag + varint(len(payload)) + payload


def write_spm(d, vocab, add_dummy_prefix):
    b = b""
    for p, sc, t in vocab:
        b += field(1, 2, field(1, 2, p.encode("utf-8")) + field(2, 5, sc) + field(3, 0, t))
    trainer = field(3, 0, 2) + field(40, 0, 0) + field(41, 0, 1) + field(42, 0, 2) + field(43, 0, -1) + field(35, 0, 1)
    normalizer = field(1, 2, b"identity") + field(3, 0, int(add_dummy_prefix)) + field(4, 0, 0) + field(5, 0, 1)
    b += field(2, 2, trainer) + field(3, 2, normalizer)
    with open(os.path.join(d, "tokenizer.model"), "wb") as f:
        f.write(b)
    cfg = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "add_bos_token": True,
           "add_eos_token": False, "chat_template": "{{ bos_token }}{% for m in messages %}{{ m['content'] }}{% endfor %}"}
    with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
        json.dump(cfg, f)


def write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].contiguous()
        dtype = "U8" if t.dtype == torch.uint8 else "F32"
        if dtype == "F32":
            t = t.to(torch.float32)
        b = t.numpy().tobytes()
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


# ---- reference forward passes (Hugging Face semantics), float64 for a clean reference

def rms(x, w, eps, offset=0.0):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * (offset + w)


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), -1)


def llama3_inv_freq(inv, rs):
    # transformers' _compute_llama3_parameters
    factor, low, high, old = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"], rs["original_max_position_embeddings"]
    out = []
    for f in inv.tolist():
        wavelen = 2 * math.pi / f
        if wavelen < old / high:
            out.append(f)
        elif wavelen > old / low:
            out.append(f / factor)
        else:
            smooth = (old / wavelen - low) / (high - low)
            out.append((1 - smooth) * f / factor + smooth * f)
    return torch.tensor(out, dtype=torch.float64)


def rope(x, theta, rot_dim=None, scaling=None):
    # x: [heads, T, hd]; half-split (NEOX / HF) layout
    hd = x.shape[-1]
    rd = rot_dim or hd
    T = x.shape[1]
    inv = 1.0 / (theta ** (torch.arange(0, rd, 2, dtype=torch.float64) / rd))
    mscale = 1.0
    if scaling and scaling.get("rope_type") == "llama3":
        inv = llama3_inv_freq(inv, scaling)
    if scaling and scaling.get("rope_type") == "linear":
        inv = inv / scaling["factor"]
    if scaling and scaling.get("type") == "longrope":
        # llama.cpp picks the long factors when its context exceeds the original one,
        # as it does here; transformers picks by sequence length. Same math otherwise.
        inv = inv / torch.tensor(scaling["long_factor"], dtype=torch.float64)
        scale = scaling["max_position_embeddings"] / scaling["original_max_position_embeddings"]
        mscale = math.sqrt(1 + math.log(scale) / math.log(scaling["original_max_position_embeddings"]))
    ang = torch.outer(torch.arange(T, dtype=torch.float64), inv)
    emb = torch.cat((ang, ang), -1)
    xr, xp = x[..., :rd], x[..., rd:]
    return torch.cat((xr * emb.cos() * mscale + rotate_half(xr) * emb.sin() * mscale, xp), -1)


def attention(q, k, v, scale, softcap=None):
    # q: [H, T, hd], k/v: [KV, T, hd]
    rep = q.shape[0] // k.shape[0]
    k = k.repeat_interleave(rep, 0)
    v = v.repeat_interleave(rep, 0)
    s = q @ k.transpose(1, 2) * scale
    if softcap:
        s = torch.tanh(s / softcap) * softcap
    T = q.shape[1]
    s = s + torch.triu(torch.full((T, T), float("-inf"), dtype=s.dtype), 1)
    return torch.softmax(s, -1) @ v


def gelu_tanh(x):
    return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x.pow(3))))


def gelu_ggml(x):
    """GELU (tanh form) as ggml's CPU backend computes it: the input rounded to float16,
    looked up in a float16 table, identity above 10 and zero below -10. Applying the
    same rounding here keeps the F32 comparison at float32 precision."""
    y = gelu_tanh(x.to(torch.float16).to(torch.float64)).to(torch.float16).to(torch.float64)
    return torch.where(x >= 10, x, torch.where(x <= -10, torch.zeros_like(x), y))


def decoder_forward(c, W, ids, kind):
    p = "model."
    H, KV = c["num_attention_heads"], c["num_key_value_heads"]
    hd = c.get("head_dim") or c["hidden_size"] // H
    eps = c["rms_norm_eps"]
    theta = c.get("rope_theta", 10000.0)
    gem = kind in ("gemma", "gemma2", "gemma3")
    off = 1.0 if gem else 0.0
    x = W[p + "embed_tokens.weight"][ids]
    if gem:
        x = x * torch.tensor(c["hidden_size"] ** 0.5, dtype=x.dtype)
    T = len(ids)
    for i in range(c["num_hidden_layers"]):
        L = p + f"layers.{i}."
        h = rms(x, W[L + "input_layernorm.weight"], eps, off)
        if kind == "phi3":
            qkv = h @ W[L + "self_attn.qkv_proj.weight"].T
            q, k, v = qkv.split([H * hd, KV * hd, KV * hd], -1)
        else:
            q = h @ W[L + "self_attn.q_proj.weight"].T
            k = h @ W[L + "self_attn.k_proj.weight"].T
            v = h @ W[L + "self_attn.v_proj.weight"].T
            if kind in ("qwen2", "qwen2moe"):
                q = q + W[L + "self_attn.q_proj.bias"]
                k = k + W[L + "self_attn.k_proj.bias"]
                v = v + W[L + "self_attn.v_proj.bias"]
        q = q.view(T, H, hd).transpose(0, 1)
        k = k.view(T, KV, hd).transpose(0, 1)
        v = v.view(T, KV, hd).transpose(0, 1)
        if kind in ("qwen3", "qwen3moe", "gemma3"):
            q = rms(q, W[L + "self_attn.q_norm.weight"], eps, off)
            k = rms(k, W[L + "self_attn.k_norm.weight"], eps, off)
        scaling = c.get("rope_scaling")
        theta = c.get("rope_theta", 10000.0)
        if kind == "gemma3" and (i + 1) % c["sliding_window_pattern"] != 0:
            # a sliding-window layer: local rotary base, no scaling
            theta, scaling = c["rope_local_base_freq"], None
        if scaling and scaling.get("type") == "longrope":
            scaling = dict(scaling, max_position_embeddings=c["max_position_embeddings"],
                           original_max_position_embeddings=c["original_max_position_embeddings"])
        q, k = rope(q, theta, scaling=scaling), rope(k, theta, scaling=scaling)
        scale = c.get("query_pre_attn_scalar", hd) ** -0.5
        a = attention(q, k, v, scale, c.get("attn_logit_softcapping"))
        a = a.transpose(0, 1).reshape(T, H * hd) @ W[L + "self_attn.o_proj.weight"].T
        if kind in ("gemma2", "gemma3"):
            a = rms(a, W[L + "post_attention_layernorm.weight"], eps, off)
            x = x + a
            h = rms(x, W[L + "pre_feedforward_layernorm.weight"], eps, off)
        else:
            x = x + a
            h = rms(x, W[L + "post_attention_layernorm.weight"], eps, off)
        if kind == "mixtral":
            probs = torch.softmax(h @ W[L + "block_sparse_moe.gate.weight"].T, -1)
            top_w, top_i = torch.topk(probs, c["num_experts_per_tok"], -1)
            top_w = top_w / top_w.sum(-1, keepdim=True)
            m = torch.zeros_like(h)
            for t in range(T):
                for w, e in zip(top_w[t].tolist(), top_i[t].tolist()):
                    E_ = L + f"block_sparse_moe.experts.{e}."
                    y = torch.nn.functional.silu(h[t] @ W[E_ + "w1.weight"].T) * (h[t] @ W[E_ + "w3.weight"].T)
                    m[t] += w * (y @ W[E_ + "w2.weight"].T)
            x = x + m
            continue
        if kind in ("qwen2moe", "qwen3moe"):
            x = x + qwen_moe(c, W, L, h, kind)
            continue
        if kind == "phi3":
            gu = h @ W[L + "mlp.gate_up_proj.weight"].T
            g, u = gu.chunk(2, -1)
        else:
            g = h @ W[L + "mlp.gate_proj.weight"].T
            u = h @ W[L + "mlp.up_proj.weight"].T
        act = gelu_ggml(g) if gem else torch.nn.functional.silu(g)
        m = (act * u) @ W[L + "mlp.down_proj.weight"].T
        if kind in ("gemma2", "gemma3"):
            m = rms(m, W[L + "post_feedforward_layernorm.weight"], eps, off)
        x = x + m
    x = rms(x, W[p + "norm.weight"], eps, off)
    out = W.get("lm_head.weight", W[p + "embed_tokens.weight"])
    logits = x @ out.T
    if c.get("final_logit_softcapping"):
        cap = c["final_logit_softcapping"]
        logits = torch.tanh(logits / cap) * cap
    return logits[-1]


def swiglu(W, P, h):
    g = h @ W[P + "gate_proj.weight"].T
    return (torch.nn.functional.silu(g) * (h @ W[P + "up_proj.weight"].T)) @ W[P + "down_proj.weight"].T


def qwen_moe(c, W, L, h, kind):
    """Qwen2-MoE / Qwen3-MoE sparse block: softmax router, top-k (renormalized when
    norm_topk_prob), plus Qwen2-MoE's sigmoid-gated shared expert."""
    probs = torch.softmax(h @ W[L + "mlp.gate.weight"].T, -1)
    top_w, top_i = torch.topk(probs, c["num_experts_per_tok"], -1)
    if c.get("norm_topk_prob"):
        top_w = top_w / top_w.sum(-1, keepdim=True)
    m = torch.zeros_like(h)
    for t in range(h.shape[0]):
        for w, e in zip(top_w[t].tolist(), top_i[t].tolist()):
            m[t] += w * swiglu(W, L + f"mlp.experts.{e}.", h[t])
    if kind == "qwen2moe":
        gate = torch.sigmoid(h @ W[L + "mlp.shared_expert_gate.weight"].T)
        m = m + gate * swiglu(W, L + "mlp.shared_expert.", h)
    return m


def gpt2_forward(c, W, ids):
    p = "transformer."
    E, H = c["n_embd"], c["n_head"]
    hd = E // H
    eps = c["layer_norm_epsilon"]
    T = len(ids)
    ln = lambda x, n: torch.nn.functional.layer_norm(x, (E,), W[n + ".weight"], W[n + ".bias"], eps)
    x = W[p + "wte.weight"][ids] + W[p + "wpe.weight"][:T]
    for i in range(c["n_layer"]):
        L = p + f"h.{i}."
        h = ln(x, L + "ln_1")
        qkv = h @ W[L + "attn.c_attn.weight"] + W[L + "attn.c_attn.bias"]
        q, k, v = (t.view(T, H, hd).transpose(0, 1) for t in qkv.split(E, -1))
        a = attention(q, k, v, hd ** -0.5).transpose(0, 1).reshape(T, E)
        x = x + a @ W[L + "attn.c_proj.weight"] + W[L + "attn.c_proj.bias"]
        h = ln(x, L + "ln_2")
        m = gelu_ggml(h @ W[L + "mlp.c_fc.weight"] + W[L + "mlp.c_fc.bias"])
        x = x + m @ W[L + "mlp.c_proj.weight"] + W[L + "mlp.c_proj.bias"]
    x = ln(x, p + "ln_f")
    return (x @ W[p + "wte.weight"].T)[-1]


MOE = ("mixtral", "qwen2moe", "qwen3moe")


def decoder_weights(c, kind, g, tied):
    E, H, KV, F = c["hidden_size"], c["num_attention_heads"], c["num_key_value_heads"], c["intermediate_size"]
    hd = c.get("head_dim") or E // H
    V = c["vocab_size"]
    r = lambda *s: torch.randn(*s, generator=g, dtype=torch.float64) * 0.2
    nw = lambda n: (r(n) * 0.5 if kind in ("gemma", "gemma2", "gemma3") else 1 + r(n) * 0.5)
    W = {"model.embed_tokens.weight": r(V, E), "model.norm.weight": nw(E)}
    if not tied:
        W["lm_head.weight"] = r(V, E)
    for i in range(c["num_hidden_layers"]):
        L = f"model.layers.{i}."
        W[L + "input_layernorm.weight"] = nw(E)
        W[L + "post_attention_layernorm.weight"] = nw(E)
        if kind == "mixtral":
            W[L + "block_sparse_moe.gate.weight"] = r(c["num_local_experts"], E) * 5
            for e in range(c["num_local_experts"]):
                W[L + f"block_sparse_moe.experts.{e}.w1.weight"] = r(F, E)
                W[L + f"block_sparse_moe.experts.{e}.w2.weight"] = r(E, F)
                W[L + f"block_sparse_moe.experts.{e}.w3.weight"] = r(F, E)
        if kind in ("qwen2moe", "qwen3moe"):
            NE, MF = c["num_experts"], c["moe_intermediate_size"]
            W[L + "mlp.gate.weight"] = r(NE, E) * 5
            for e in range(NE):
                W[L + f"mlp.experts.{e}.gate_proj.weight"] = r(MF, E)
                W[L + f"mlp.experts.{e}.up_proj.weight"] = r(MF, E)
                W[L + f"mlp.experts.{e}.down_proj.weight"] = r(E, MF)
            if kind == "qwen2moe":
                SF = c["shared_expert_intermediate_size"]
                W[L + "mlp.shared_expert.gate_proj.weight"] = r(SF, E)
                W[L + "mlp.shared_expert.up_proj.weight"] = r(SF, E)
                W[L + "mlp.shared_expert.down_proj.weight"] = r(E, SF)
                W[L + "mlp.shared_expert_gate.weight"] = r(1, E)
        if kind == "phi3":
            W[L + "self_attn.qkv_proj.weight"] = r((H + 2 * KV) * hd, E)
            W[L + "mlp.gate_up_proj.weight"] = r(2 * F, E)
        else:
            W[L + "self_attn.q_proj.weight"] = r(H * hd, E)
            W[L + "self_attn.k_proj.weight"] = r(KV * hd, E)
            W[L + "self_attn.v_proj.weight"] = r(KV * hd, E)
            if kind not in MOE:
                W[L + "mlp.gate_proj.weight"] = r(F, E)
                W[L + "mlp.up_proj.weight"] = r(F, E)
        W[L + "self_attn.o_proj.weight"] = r(E, H * hd)
        if kind not in MOE:
            W[L + "mlp.down_proj.weight"] = r(E, F)
        if kind in ("qwen2", "qwen2moe"):
            for n in "qkv":
                W[L + f"self_attn.{n}_proj.bias"] = r(W[L + f"self_attn.{n}_proj.weight"].shape[0])
        if kind in ("qwen3", "qwen3moe"):
            W[L + "self_attn.q_norm.weight"] = nw(hd)
            W[L + "self_attn.k_norm.weight"] = nw(hd)
        if kind == "gemma3":
            W[L + "self_attn.q_norm.weight"] = nw(hd)
            W[L + "self_attn.k_norm.weight"] = nw(hd)
        if kind in ("gemma2", "gemma3"):
            W[L + "pre_feedforward_layernorm.weight"] = nw(E)
            W[L + "post_feedforward_layernorm.weight"] = nw(E)
    return W


def layer_norm(x, W, n, eps):
    return torch.nn.functional.layer_norm(x, (x.shape[-1],), W[n + ".weight"], W[n + ".bias"], eps)


def lin(W, n, x):
    """x @ W[n].T + bias (when the checkpoint has one)."""
    y = x @ W[n + ".weight"].T
    return y + W[n + ".bias"] if n + ".bias" in W else y


def heads(x, n):
    T = x.shape[0]
    return x.view(T, n, -1).transpose(0, 1)


def parallel_forward(c, W, ids, kind):
    """Phi-2 and GPT-NeoX: LayerNorm decoders with partial NEOX rotary and a GELU MLP,
    attention and MLP in parallel."""
    H = c["num_attention_heads"]
    E = c["hidden_size"]
    hd = E // H
    T = len(ids)
    if kind == "phi2":
        P, emb, fin, head = "model.layers.", "model.embed_tokens", "model.final_layernorm", "lm_head"
        rd, theta, eps = int(c["partial_rotary_factor"] * hd), c.get("rope_theta", 10000.0), c["layer_norm_eps"]
    else:
        P, emb, fin, head = "gpt_neox.layers.", "gpt_neox.embed_in", "gpt_neox.final_layer_norm", "embed_out"
        rd, theta, eps = int(c["rotary_pct"] * hd), c.get("rotary_emb_base", 10000.0), c["layer_norm_eps"]
    x = W[emb + ".weight"][ids]
    for i in range(c["num_hidden_layers"]):
        L = P + f"{i}."
        if kind == "phi2":
            h = layer_norm(x, W, L + "input_layernorm", eps)
            q, k, v = (heads(lin(W, L + f"self_attn.{n}_proj", h), H) for n in "qkv")
            out = L + "self_attn.dense"
            hm = h
            up, down = L + "mlp.fc1", L + "mlp.fc2"
        else:
            h = layer_norm(x, W, L + "input_layernorm", eps)
            qkv = lin(W, L + "attention.query_key_value", h).view(T, H, 3, hd)
            q, k, v = (qkv[:, :, j].transpose(0, 1) for j in range(3))
            out = L + "attention.dense"
            hm = layer_norm(x, W, L + "post_attention_layernorm", eps)
            up, down = L + "mlp.dense_h_to_4h", L + "mlp.dense_4h_to_h"
        q, k = rope(q, theta, rot_dim=rd), rope(k, theta, rot_dim=rd)
        a = lin(W, out, attention(q, k, v, hd ** -0.5).transpose(0, 1).reshape(T, E))
        m = lin(W, down, gelu_ggml(lin(W, up, hm)))
        x = x + a + m
    x = layer_norm(x, W, fin, eps)
    return lin(W, head, x)[-1]


def parallel_weights(c, kind, g):
    E, F, V = c["hidden_size"], c["intermediate_size"], c["vocab_size"]
    r = lambda *s: torch.randn(*s, generator=g, dtype=torch.float64) * 0.2
    W = {}
    def ln(n):
        W[n + ".weight"], W[n + ".bias"] = 1 + r(E) * 0.5, r(E)
    def linear(n, o, i, bias=True):
        W[n + ".weight"] = r(o, i)
        if bias:
            W[n + ".bias"] = r(o)
    if kind == "phi2":
        W["model.embed_tokens.weight"] = r(V, E)
        ln("model.final_layernorm")
        linear("lm_head", V, E)
        for i in range(c["num_hidden_layers"]):
            L = f"model.layers.{i}."
            ln(L + "input_layernorm")
            for n in "qkv":
                linear(L + f"self_attn.{n}_proj", E, E)
            linear(L + "self_attn.dense", E, E)
            linear(L + "mlp.fc1", F, E)
            linear(L + "mlp.fc2", E, F)
    else:
        W["gpt_neox.embed_in.weight"] = r(V, E)
        ln("gpt_neox.final_layer_norm")
        linear("embed_out", V, E, bias=False)
        for i in range(c["num_hidden_layers"]):
            L = f"gpt_neox.layers.{i}."
            ln(L + "input_layernorm")
            ln(L + "post_attention_layernorm")
            linear(L + "attention.query_key_value", 3 * E, E)
            linear(L + "attention.dense", E, E)
            linear(L + "mlp.dense_h_to_4h", F, E)
            linear(L + "mlp.dense_4h_to_h", E, F)
    return W


def falcon_forward(c, W, ids):
    """Falcon, new decoder architecture: per-KV-group fused QKV, ln_attn and ln_mlp,
    attention and MLP in parallel."""
    H, E = c["num_attention_heads"], c["hidden_size"]
    new = c["new_decoder_architecture"]
    KV = c["num_kv_heads"] if new else 1  # Falcon-7B: multi-query
    hd, T, eps = E // H, len(ids), c["layer_norm_epsilon"]
    x = W["transformer.word_embeddings.weight"][ids]
    for i in range(c["num_hidden_layers"]):
        L = f"transformer.h.{i}."
        if new:
            ha = layer_norm(x, W, L + "ln_attn", eps)
            hm = layer_norm(x, W, L + "ln_mlp", eps)
        else:
            ha = hm = layer_norm(x, W, L + "input_layernorm", eps)
        qkv = lin(W, L + "self_attention.query_key_value", ha).view(T, KV, H // KV + 2, hd)
        q = qkv[:, :, :-2].reshape(T, H, hd).transpose(0, 1)
        k = qkv[:, :, -2].transpose(0, 1)
        v = qkv[:, :, -1].transpose(0, 1)
        theta = c.get("rope_theta", 10000.0)
        q, k = rope(q, theta), rope(k, theta)
        a = lin(W, L + "self_attention.dense", attention(q, k, v, hd ** -0.5).transpose(0, 1).reshape(T, E))
        m = lin(W, L + "mlp.dense_4h_to_h", gelu_ggml(lin(W, L + "mlp.dense_h_to_4h", hm)))
        x = x + a + m
    x = layer_norm(x, W, "transformer.ln_f", eps)
    return lin(W, "lm_head", x)[-1]


def ln_decoder_forward(c, W, ids, kind):
    """StarCoder2 and StableLM: LayerNorm decoders, sequential residuals, NEOX rotary
    (partial for StableLM)."""
    H, KV, E = c["num_attention_heads"], c["num_key_value_heads"], c["hidden_size"]
    hd, T = E // H, len(ids)
    eps = c.get("norm_epsilon", c.get("layer_norm_eps"))
    rd = int(c.get("partial_rotary_factor", 1.0) * hd)
    x = W["model.embed_tokens.weight"][ids]
    for i in range(c["num_hidden_layers"]):
        L = f"model.layers.{i}."
        h = layer_norm(x, W, L + "input_layernorm", eps)
        q = heads(lin(W, L + "self_attn.q_proj", h), H)
        k = heads(lin(W, L + "self_attn.k_proj", h), KV)
        v = heads(lin(W, L + "self_attn.v_proj", h), KV)
        q, k = rope(q, c["rope_theta"], rot_dim=rd), rope(k, c["rope_theta"], rot_dim=rd)
        x = x + lin(W, L + "self_attn.o_proj", attention(q, k, v, hd ** -0.5).transpose(0, 1).reshape(T, H * hd))
        h = layer_norm(x, W, L + "post_attention_layernorm", eps)
        if kind == "starcoder2":
            x = x + lin(W, L + "mlp.c_proj", gelu_ggml(lin(W, L + "mlp.c_fc", h)))
        else:
            x = x + swiglu(W, L + "mlp.", h)
    x = layer_norm(x, W, "model.norm", eps)
    return (x @ W.get("lm_head.weight", W["model.embed_tokens.weight"]).T)[-1]


def other_weights(c, kind, g):
    """Weights of the LayerNorm families (falcon, starcoder2, stablelm)."""
    E, F, V = c["hidden_size"], c["intermediate_size"], c["vocab_size"]
    H = c["num_attention_heads"]
    hd = E // H
    r = lambda *s: torch.randn(*s, generator=g, dtype=torch.float64) * 0.2
    W = {}
    def ln(n):
        W[n + ".weight"], W[n + ".bias"] = 1 + r(E) * 0.5, r(E)
    def linear(n, o, i, bias):
        W[n + ".weight"] = r(o, i)
        if bias:
            W[n + ".bias"] = r(o)
    if kind == "falcon":
        KV = c["num_kv_heads"] if c["new_decoder_architecture"] else 1
        W["transformer.word_embeddings.weight"] = r(V, E)
        ln("transformer.ln_f")
        linear("lm_head", V, E, False)
        for i in range(c["num_hidden_layers"]):
            L = f"transformer.h.{i}."
            if c["new_decoder_architecture"]:
                ln(L + "ln_attn")
                ln(L + "ln_mlp")
            else:
                ln(L + "input_layernorm")
            linear(L + "self_attention.query_key_value", (H + 2 * KV) * hd, E, False)
            linear(L + "self_attention.dense", E, E, False)
            linear(L + "mlp.dense_h_to_4h", F, E, False)
            linear(L + "mlp.dense_4h_to_h", E, F, False)
        return W
    KV = c["num_key_value_heads"]
    W["model.embed_tokens.weight"] = r(V, E)
    ln("model.norm")
    if not c["tie_word_embeddings"]:
        linear("lm_head", V, E, False)
    for i in range(c["num_hidden_layers"]):
        L = f"model.layers.{i}."
        ln(L + "input_layernorm")
        ln(L + "post_attention_layernorm")
        linear(L + "self_attn.q_proj", H * hd, E, True)
        linear(L + "self_attn.k_proj", KV * hd, E, True)
        linear(L + "self_attn.v_proj", KV * hd, E, True)
        linear(L + "self_attn.o_proj", E, H * hd, kind == "starcoder2")
        if kind == "starcoder2":
            linear(L + "mlp.c_fc", F, E, True)
            linear(L + "mlp.c_proj", E, F, True)
        else:
            for n in ("gate_proj", "up_proj"):
                linear(L + "mlp." + n, F, E, False)
            linear(L + "mlp.down_proj", E, F, False)
    return W


def rope_interleaved(x, theta):
    """Rotary on adjacent pairs (2i, 2i+1), as Cohere's apply_rotary_pos_emb does."""
    hd, T = x.shape[-1], x.shape[1]
    inv = 1.0 / (theta ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
    ang = torch.outer(torch.arange(T, dtype=torch.float64), inv).repeat_interleave(2, -1)
    rot = torch.stack((-x[..., 1::2], x[..., ::2]), -1).flatten(-2)
    return x * ang.cos() + rot * ang.sin()


def cohere_norm(x, w, eps):
    x = x - x.mean(-1, keepdim=True)
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def misc_forward(c, W, ids, kind):
    """OLMo 2 (post-norms, whole-projection Q/K RMSNorm), Granite (Llama with
    multipliers), Command-R (parallel block, bias-free LayerNorm, interleaved rotary)."""
    H, KV, E = c["num_attention_heads"], c["num_key_value_heads"], c["hidden_size"]
    hd, T = E // H, len(ids)
    eps = c["layer_norm_eps"] if kind == "commandr" else c["rms_norm_eps"]
    theta = c["rope_theta"]
    x = W["model.embed_tokens.weight"][ids]
    if kind in ("granite", "granitemoe"):
        x = x * c["embedding_multiplier"]
    res = c.get("residual_multiplier", 1.0)
    scale = c.get("attention_multiplier", hd ** -0.5)
    for i in range(c["num_hidden_layers"]):
        L = f"model.layers.{i}."
        if kind == "olmo2":
            h = x
        elif kind == "commandr":
            h = cohere_norm(x, W[L + "input_layernorm.weight"], eps)
        else:
            h = rms(x, W[L + "input_layernorm.weight"], eps)
        q = h @ W[L + "self_attn.q_proj.weight"].T
        k = h @ W[L + "self_attn.k_proj.weight"].T
        v = heads(h @ W[L + "self_attn.v_proj.weight"].T, KV)
        if kind == "olmo2":
            q = rms(q, W[L + "self_attn.q_norm.weight"], eps)
            k = rms(k, W[L + "self_attn.k_norm.weight"], eps)
        q, k = heads(q, H), heads(k, KV)
        if kind == "commandr":
            q, k = rope_interleaved(q, theta), rope_interleaved(k, theta)
        else:
            q, k = rope(q, theta), rope(k, theta)
        a = attention(q, k, v, scale).transpose(0, 1).reshape(T, H * hd) @ W[L + "self_attn.o_proj.weight"].T
        if kind == "commandr":
            x = x + a + swiglu(W, L + "mlp.", h)
            continue
        if kind == "olmo2":
            x = x + rms(a, W[L + "post_attention_layernorm.weight"], eps)
            x = x + rms(swiglu(W, L + "mlp.", x), W[L + "post_feedforward_layernorm.weight"], eps)
            continue
        x = x + a * res
        h = rms(x, W[L + "post_attention_layernorm.weight"], eps)
        if kind == "granitemoe":
            x = x + granite_moe(c, W, L, h) * res
            continue
        x = x + swiglu(W, L + "mlp.", h) * res
    if kind == "commandr":
        x = cohere_norm(x, W["model.norm.weight"], eps)
    else:
        x = rms(x, W["model.norm.weight"], eps)
    logits = x @ W.get("lm_head.weight", W["model.embed_tokens.weight"]).T
    if kind in ("granite", "granitemoe"):
        logits = logits / c["logits_scaling"]
    if kind == "commandr":
        logits = logits * c["logit_scale"]
    return logits[-1]


def granite_moe(c, W, L, h):
    """GraniteMoE: softmax over the top-k router logits; experts stored stacked, gate
    and up fused in input_linear."""
    top_v, top_i = torch.topk(h @ W[L + "block_sparse_moe.router.layer.weight"].T, c["num_experts_per_tok"], -1)
    top_w = torch.softmax(top_v, -1)
    F = c["intermediate_size"]
    m = torch.zeros_like(h)
    for t in range(h.shape[0]):
        for w, e in zip(top_w[t].tolist(), top_i[t].tolist()):
            gu = h[t] @ W[L + "block_sparse_moe.input_linear.weight"][e].T
            y = torch.nn.functional.silu(gu[:F]) * gu[F:]
            m[t] += w * (y @ W[L + "block_sparse_moe.output_linear.weight"][e].T)
    return m


def deepseek_forward(c, W, ids):
    """DeepSeek-V2/V3: multi-head latent attention, then a dense MLP (first
    first_k_dense_replace blocks) or routed plus shared experts."""
    H, E, T = c["num_attention_heads"], c["hidden_size"], len(ids)
    nope, rd, vd, R = c["qk_nope_head_dim"], c["qk_rope_head_dim"], c["v_head_dim"], c["kv_lora_rank"]
    eps, theta = c["rms_norm_eps"], c["rope_theta"]
    x = W["model.embed_tokens.weight"][ids]
    for i in range(c["num_hidden_layers"]):
        L = f"model.layers.{i}.self_attn."
        h = rms(x, W[f"model.layers.{i}.input_layernorm.weight"], eps)
        if c.get("q_lora_rank"):
            q = rms(h @ W[L + "q_a_proj.weight"].T, W[L + "q_a_layernorm.weight"], eps) @ W[L + "q_b_proj.weight"].T
        else:
            q = h @ W[L + "q_proj.weight"].T
        q = heads(q, H)
        q_nope, q_pe = q[..., :nope], q[..., nope:]
        ckv = h @ W[L + "kv_a_proj_with_mqa.weight"].T
        c_kv, k_pe = ckv[:, :R], ckv[:, R:]
        kv = heads(rms(c_kv, W[L + "kv_a_layernorm.weight"], eps) @ W[L + "kv_b_proj.weight"].T, H)
        k_nope, v = kv[..., :nope], kv[..., nope:]
        # HF de-interleaves q_pe / k_pe before rotate_half; the same permutation on
        # both leaves the scores those of rotating interleaved pairs
        q_pe = rope_interleaved(q_pe, theta)
        k_pe = rope_interleaved(k_pe.unsqueeze(0), theta).expand(H, T, rd)
        qf = torch.cat((q_nope, q_pe), -1)
        kf = torch.cat((k_nope, k_pe), -1)
        a = attention(qf, kf, v, (nope + rd) ** -0.5).transpose(0, 1).reshape(T, H * vd)
        x = x + a @ W[L + "o_proj.weight"].T
        P = f"model.layers.{i}.mlp."
        h = rms(x, W[f"model.layers.{i}.post_attention_layernorm.weight"], eps)
        if i < c["first_k_dense_replace"]:
            x = x + swiglu(W, P, h)
            continue
        logits = h @ W[P + "gate.weight"].T
        if c["scoring_func"] == "sigmoid":
            scores = torch.sigmoid(logits)
            _, top_i = torch.topk(scores + W[P + "gate.e_score_correction_bias"], c["num_experts_per_tok"], -1)
        else:
            scores = torch.softmax(logits, -1)
            _, top_i = torch.topk(scores, c["num_experts_per_tok"], -1)
        top_w = scores.gather(-1, top_i)
        if c["norm_topk_prob"]:
            top_w = top_w / top_w.sum(-1, keepdim=True)
        top_w = top_w * c["routed_scaling_factor"]
        m = swiglu(W, P + "shared_experts.", h)
        for t in range(T):
            for w, e in zip(top_w[t].tolist(), top_i[t].tolist()):
                m[t] += w * swiglu(W, P + f"experts.{e}.", h[t])
        x = x + m
    x = rms(x, W["model.norm.weight"], eps)
    return (x @ W["lm_head.weight"].T)[-1]


def deepseek_weights(c, g):
    H, E, V, F, MF = c["num_attention_heads"], c["hidden_size"], c["vocab_size"], c["intermediate_size"], c["moe_intermediate_size"]
    nope, rd, vd, R, QR = c["qk_nope_head_dim"], c["qk_rope_head_dim"], c["v_head_dim"], c["kv_lora_rank"], c["q_lora_rank"]
    r = lambda *s: torch.randn(*s, generator=g, dtype=torch.float64) * 0.2
    nw = lambda n: 1 + r(n) * 0.5
    W = {"model.embed_tokens.weight": r(V, E), "model.norm.weight": nw(E), "lm_head.weight": r(V, E)}
    def mlp(P, f):
        W[P + "gate_proj.weight"], W[P + "up_proj.weight"], W[P + "down_proj.weight"] = r(f, E), r(f, E), r(E, f)
    for i in range(c["num_hidden_layers"]):
        L = f"model.layers.{i}."
        W[L + "input_layernorm.weight"] = nw(E)
        W[L + "post_attention_layernorm.weight"] = nw(E)
        A = L + "self_attn."
        W[A + "q_a_proj.weight"] = r(QR, E)
        W[A + "q_a_layernorm.weight"] = nw(QR)
        W[A + "q_b_proj.weight"] = r(H * (nope + rd), QR)
        W[A + "kv_a_proj_with_mqa.weight"] = r(R + rd, E)
        W[A + "kv_a_layernorm.weight"] = nw(R)
        W[A + "kv_b_proj.weight"] = r(H * (nope + vd), R)
        W[A + "o_proj.weight"] = r(E, H * vd)
        if i < c["first_k_dense_replace"]:
            mlp(L + "mlp.", F)
            continue
        W[L + "mlp.gate.weight"] = r(c["n_routed_experts"], E) * 5
        if c["scoring_func"] == "sigmoid":
            W[L + "mlp.gate.e_score_correction_bias"] = r(c["n_routed_experts"])
        for e in range(c["n_routed_experts"]):
            mlp(L + f"mlp.experts.{e}.", MF)
        mlp(L + "mlp.shared_experts.", MF * c["n_shared_experts"])
    return W


def encoder_forward(c, W, ids, kind):
    """BERT and nomic-bert: bidirectional post-LayerNorm encoders; the result is the
    last position's hidden state (llama.cpp's embedding with pooling off)."""
    T = len(ids)
    if kind == "bert":
        E, H, eps = c["hidden_size"], c["num_attention_heads"], c["layer_norm_eps"]
        x = W["embeddings.word_embeddings.weight"][ids] + W["embeddings.position_embeddings.weight"][:T]
        x = layer_norm(x + W["embeddings.token_type_embeddings.weight"][0], W, "embeddings.LayerNorm", eps)
    else:
        E, H, eps = c["n_embd"], c["n_head"], c["layer_norm_epsilon"]
        x = W["embeddings.word_embeddings.weight"][ids] + W["embeddings.token_type_embeddings.weight"][0]
        x = layer_norm(x, W, "emb_ln", eps)
    hd = E // H
    for i in range(c["num_hidden_layers"] if kind == "bert" else c["n_layer"]):
        if kind == "bert":
            L = f"encoder.layer.{i}."
            q, k, v = (heads(lin(W, L + f"attention.self.{n}", x), H) for n in ("query", "key", "value"))
            out, n1, n2 = L + "attention.output.dense", L + "attention.output.LayerNorm", L + "output.LayerNorm"
        else:
            L = f"encoder.layers.{i}."
            q, k, v = (heads(t, H) for t in lin(W, L + "attn.Wqkv", x).split(E, -1))
            theta = c["rotary_emb_base"]
            q, k = rope(q, theta), rope(k, theta)
            out, n1, n2 = L + "attn.out_proj", L + "norm1", L + "norm2"
        s = torch.softmax(q @ k.transpose(1, 2) * hd ** -0.5, -1)
        a = lin(W, out, (s @ v).transpose(0, 1).reshape(T, E))
        x = layer_norm(x + a, W, n1, eps)
        if kind == "bert":
            m = lin(W, L + "output.dense", gelu_ggml(lin(W, L + "intermediate.dense", x)))
        else:
            m = lin(W, L + "mlp.fc2", lin(W, L + "mlp.fc11", x) * torch.nn.functional.silu(lin(W, L + "mlp.fc12", x)))
        x = layer_norm(x + m, W, n2, eps)
    return x[-1]


def encoder_weights(c, kind, g):
    r = lambda *s: torch.randn(*s, generator=g, dtype=torch.float64) * 0.2
    W = {}
    def ln(n, E):
        W[n + ".weight"], W[n + ".bias"] = 1 + r(E) * 0.5, r(E)
    def linear(n, o, i, bias):
        W[n + ".weight"] = r(o, i)
        if bias:
            W[n + ".bias"] = r(o)
    if kind == "bert":
        E, F, V = c["hidden_size"], c["intermediate_size"], c["vocab_size"]
        W["embeddings.word_embeddings.weight"] = r(V, E)
        W["embeddings.position_embeddings.weight"] = r(c["max_position_embeddings"], E)
        W["embeddings.token_type_embeddings.weight"] = r(c["type_vocab_size"], E)
        ln("embeddings.LayerNorm", E)
        for i in range(c["num_hidden_layers"]):
            L = f"encoder.layer.{i}."
            for n in ("query", "key", "value"):
                linear(L + "attention.self." + n, E, E, True)
            linear(L + "attention.output.dense", E, E, True)
            ln(L + "attention.output.LayerNorm", E)
            linear(L + "intermediate.dense", F, E, True)
            linear(L + "output.dense", E, F, True)
            ln(L + "output.LayerNorm", E)
        return W
    E, F, V = c["n_embd"], c["n_inner"], c["vocab_size"]
    W["embeddings.word_embeddings.weight"] = r(V, E)
    W["embeddings.token_type_embeddings.weight"] = r(c["type_vocab_size"], E)
    ln("emb_ln", E)
    for i in range(c["n_layer"]):
        L = f"encoder.layers.{i}."
        linear(L + "attn.Wqkv", 3 * E, E, False)
        linear(L + "attn.out_proj", E, E, False)
        ln(L + "norm1", E)
        linear(L + "mlp.fc11", F, E, False)
        linear(L + "mlp.fc12", F, E, False)
        linear(L + "mlp.fc2", E, F, False)
        ln(L + "norm2", E)
    return W


FP4 = [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, -0.0, -0.5, -1.0, -1.5, -2.0, -3.0, -4.0, -6.0]


def mxfp4_dequant(blocks, scales):
    """transformers' convert_moe_packed_tensors: [E, R, nb, 16] codes (low nibble
    first) and [E, R, nb] E8M0 scales -> [E, R, nb * 32]."""
    lut = torch.tensor(FP4, dtype=torch.float64)
    b = blocks.to(torch.int64)
    vals = torch.stack((lut[b & 0x0F], lut[b >> 4]), -1).reshape(*blocks.shape[:-1], 32)
    vals = vals * torch.pow(2.0, scales.to(torch.float64) - 127).unsqueeze(-1)
    return vals.reshape(blocks.shape[0], blocks.shape[1], -1)


def q8_ggml(x):
    """The Q8_0 rounding ggml's CPU backend applies to activations multiplied by MXFP4
    weights (their dot product's other operand): per 32 values, scale max|x|/127 held in
    float16, values rounded to integers. Applying it here keeps the comparison at
    float32 precision."""
    b = x.reshape(-1, 32).to(torch.float32)
    d = b.abs().max(-1, keepdim=True).values / 127
    q = torch.where(d > 0, b * torch.where(d > 0, 1 / d, torch.zeros_like(d)), torch.zeros_like(b))
    q = torch.sign(q) * torch.floor(q.abs() + 0.5)  # roundf: halves away from zero
    return (q * d.to(torch.float16).to(torch.float32)).to(torch.float64).reshape(x.shape)


def gptoss_forward(c, W, ids):
    """gpt-oss: attention with biases and per-head sinks, a router with a bias taking
    the softmax of the top-k logits, MXFP4 experts with clamped SwiGLU (alpha 1.702,
    limit 7, (up + 1) * glu)."""
    H, KV, E, hd, T = c["num_attention_heads"], c["num_key_value_heads"], c["hidden_size"], c["head_dim"], len(ids)
    eps, theta, lim = c["rms_norm_eps"], c["rope_theta"], c["swiglu_limit"]
    x = W["model.embed_tokens.weight"][ids]
    for i in range(c["num_hidden_layers"]):
        L = f"model.layers.{i}."
        h = rms(x, W[L + "input_layernorm.weight"], eps)
        q = heads(lin(W, L + "self_attn.q_proj", h), H)
        k = heads(lin(W, L + "self_attn.k_proj", h), KV)
        v = heads(lin(W, L + "self_attn.v_proj", h), KV)
        q, k = rope(q, theta), rope(k, theta)
        k, v = k.repeat_interleave(H // KV, 0), v.repeat_interleave(H // KV, 0)
        sc = q @ k.transpose(1, 2) * hd ** -0.5
        sc = sc + torch.triu(torch.full((T, T), float("-inf"), dtype=sc.dtype), 1)
        sinks = W[L + "self_attn.sinks"].view(H, 1, 1).expand(H, T, 1)
        pr = torch.softmax(torch.cat((sc, sinks), -1), -1)[..., :-1]
        x = x + lin(W, L + "self_attn.o_proj", (pr @ v).transpose(0, 1).reshape(T, H * hd))
        h = rms(x, W[L + "post_attention_layernorm.weight"], eps)
        top_v, top_i = torch.topk(lin(W, L + "mlp.router", h), c["num_experts_per_tok"], -1)
        top_w = torch.softmax(top_v, -1)
        P = L + "mlp.experts."
        gu_w = mxfp4_dequant(W[P + "gate_up_proj_blocks"], W[P + "gate_up_proj_scales"])
        dn_w = mxfp4_dequant(W[P + "down_proj_blocks"], W[P + "down_proj_scales"])
        m = torch.zeros_like(h)
        for t in range(T):
            for w, e in zip(top_w[t].tolist(), top_i[t].tolist()):
                gu = q8_ggml(h[t]) @ gu_w[e].T + W[P + "gate_up_proj_bias"][e]
                gate, up = gu[::2].clamp(max=lim), gu[1::2].clamp(-lim, lim)
                y = (up + 1) * (gate * torch.sigmoid(gate * 1.702))
                m[t] += w * (q8_ggml(y) @ dn_w[e].T + W[P + "down_proj_bias"][e])
        x = x + m
    x = rms(x, W["model.norm.weight"], eps)
    return (x @ W["lm_head.weight"].T)[-1]


def gptoss_weights(c, g):
    H, KV, E, hd, V, F, NE = (c["num_attention_heads"], c["num_key_value_heads"], c["hidden_size"], c["head_dim"],
                              c["vocab_size"], c["intermediate_size"], c["num_local_experts"])
    r = lambda *s: torch.randn(*s, generator=g, dtype=torch.float64) * 0.2
    nw = lambda n: 1 + r(n) * 0.5
    codes = lambda *s: torch.randint(0, 256, s, generator=g, dtype=torch.int64).to(torch.uint8)
    # scales 2^-4 .. 2^-2: FP4 values up to 6 give weights of order 0.1
    scales = lambda *s: torch.randint(123, 126, s, generator=g, dtype=torch.int64).to(torch.uint8)
    W = {"model.embed_tokens.weight": r(V, E), "model.norm.weight": nw(E), "lm_head.weight": r(V, E)}
    for i in range(c["num_hidden_layers"]):
        L = f"model.layers.{i}."
        W[L + "input_layernorm.weight"] = nw(E)
        W[L + "post_attention_layernorm.weight"] = nw(E)
        for n, o in (("q", H * hd), ("k", KV * hd), ("v", KV * hd)):
            W[L + f"self_attn.{n}_proj.weight"], W[L + f"self_attn.{n}_proj.bias"] = r(o, E), r(o)
        W[L + "self_attn.o_proj.weight"], W[L + "self_attn.o_proj.bias"] = r(E, H * hd), r(E)
        W[L + "self_attn.sinks"] = r(H) * 5
        W[L + "mlp.router.weight"], W[L + "mlp.router.bias"] = r(NE, E) * 5, r(NE)
        P = L + "mlp.experts."
        W[P + "gate_up_proj_blocks"], W[P + "gate_up_proj_scales"] = codes(NE, 2 * F, E // 32, 16), scales(NE, 2 * F, E // 32)
        W[P + "gate_up_proj_bias"] = r(NE, 2 * F)
        W[P + "down_proj_blocks"], W[P + "down_proj_scales"] = codes(NE, E, F // 32, 16), scales(NE, E, F // 32)
        W[P + "down_proj_bias"] = r(NE, E)
    return W


def misc_weights(c, kind, g):
    E, F, V = c["hidden_size"], c["intermediate_size"], c["vocab_size"]
    H, KV = c["num_attention_heads"], c["num_key_value_heads"]
    hd = E // H
    r = lambda *s: torch.randn(*s, generator=g, dtype=torch.float64) * 0.2
    nw = lambda n: 1 + r(n) * 0.5
    W = {"model.embed_tokens.weight": r(V, E), "model.norm.weight": nw(E)}
    if not c["tie_word_embeddings"]:
        W["lm_head.weight"] = r(V, E)
    for i in range(c["num_hidden_layers"]):
        L = f"model.layers.{i}."
        if kind == "olmo2":
            W[L + "self_attn.q_norm.weight"] = nw(H * hd)
            W[L + "self_attn.k_norm.weight"] = nw(KV * hd)
            W[L + "post_attention_layernorm.weight"] = nw(E)
            W[L + "post_feedforward_layernorm.weight"] = nw(E)
        else:
            W[L + "input_layernorm.weight"] = nw(E)
            if kind in ("granite", "granitemoe"):
                W[L + "post_attention_layernorm.weight"] = nw(E)
        W[L + "self_attn.q_proj.weight"] = r(H * hd, E)
        W[L + "self_attn.k_proj.weight"] = r(KV * hd, E)
        W[L + "self_attn.v_proj.weight"] = r(KV * hd, E)
        W[L + "self_attn.o_proj.weight"] = r(E, H * hd)
        if kind == "granitemoe":
            NE = c["num_local_experts"]
            W[L + "block_sparse_moe.router.layer.weight"] = r(NE, E) * 5
            W[L + "block_sparse_moe.input_linear.weight"] = r(NE, 2 * F, E)
            W[L + "block_sparse_moe.output_linear.weight"] = r(NE, E, F)
            continue
        W[L + "mlp.gate_proj.weight"] = r(F, E)
        W[L + "mlp.up_proj.weight"] = r(F, E)
        W[L + "mlp.down_proj.weight"] = r(E, F)
    return W


def gpt2_weights(c, g):
    E, V, P = c["n_embd"], c["vocab_size"], c["n_positions"]
    r = lambda *s: torch.randn(*s, generator=g, dtype=torch.float64) * 0.2
    W = {"transformer.wte.weight": r(V, E), "transformer.wpe.weight": r(P, E),
         "transformer.ln_f.weight": 1 + r(E) * 0.5, "transformer.ln_f.bias": r(E)}
    for i in range(c["n_layer"]):
        L = f"transformer.h.{i}."
        for n in ("ln_1", "ln_2"):
            W[L + n + ".weight"] = 1 + r(E) * 0.5
            W[L + n + ".bias"] = r(E)
        W[L + "attn.c_attn.weight"], W[L + "attn.c_attn.bias"] = r(E, 3 * E), r(3 * E)
        W[L + "attn.c_proj.weight"], W[L + "attn.c_proj.bias"] = r(E, E), r(E)
        W[L + "mlp.c_fc.weight"], W[L + "mlp.c_fc.bias"] = r(E, 4 * E), r(4 * E)
        W[L + "mlp.c_proj.weight"], W[L + "mlp.c_proj.bias"] = r(4 * E, E), r(E)
    return W


def models(V, SPM_V):
    base = {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
            "intermediate_size": 96, "max_position_embeddings": 128, "rms_norm_eps": 1e-5,
            "rope_theta": 10000.0, "vocab_size": V, "bos_token_id": V - 2, "eos_token_id": V - 1}
    return {
        "llama": dict(base, architectures=["LlamaForCausalLM"], model_type="llama", tie_word_embeddings=False),
        "llama_spm": dict(base, architectures=["LlamaForCausalLM"], model_type="llama", tie_word_embeddings=False,
                          vocab_size=SPM_V, bos_token_id=1, eos_token_id=2),
        "llama3": dict(base, architectures=["LlamaForCausalLM"], model_type="llama", tie_word_embeddings=True,
                       head_dim=16, rope_theta=500000.0,
                       rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                     "high_freq_factor": 4.0, "original_max_position_embeddings": 64}),
        "mistral": dict(base, architectures=["MistralForCausalLM"], model_type="mistral", tie_word_embeddings=False,
                        num_key_value_heads=1, rope_theta=1000000.0),
        "qwen2": dict(base, architectures=["Qwen2ForCausalLM"], model_type="qwen2", tie_word_embeddings=True,
                      rms_norm_eps=1e-6),
        "qwen3": dict(base, architectures=["Qwen3ForCausalLM"], model_type="qwen3", tie_word_embeddings=True,
                      head_dim=32, rms_norm_eps=1e-6),
        "gemma": dict(base, architectures=["GemmaForCausalLM"], model_type="gemma", tie_word_embeddings=True,
                      vocab_size=SPM_V, bos_token_id=1, eos_token_id=2, head_dim=16, rms_norm_eps=1e-6, hidden_act="gelu_pytorch_tanh"),
        "gemma2": dict(base, architectures=["Gemma2ForCausalLM"], model_type="gemma2", tie_word_embeddings=True,
                       head_dim=16, rms_norm_eps=1e-6, hidden_activation="gelu_pytorch_tanh",
                       query_pre_attn_scalar=16, attn_logit_softcapping=50.0, final_logit_softcapping=30.0,
                       sliding_window=4096),
        "gemma3": dict(base, architectures=["Gemma3ForCausalLM"], model_type="gemma3_text", tie_word_embeddings=True,
                       head_dim=16, rms_norm_eps=1e-6, hidden_activation="gelu_pytorch_tanh", query_pre_attn_scalar=16,
                       final_logit_softcapping=None, attn_logit_softcapping=None, sliding_window=512,
                       sliding_window_pattern=2, rope_theta=1000000.0, rope_local_base_freq=10000.0,
                       rope_scaling={"rope_type": "linear", "factor": 8.0}),
        "phi3": dict(base, architectures=["Phi3ForCausalLM"], model_type="phi3", tie_word_embeddings=False,
                     num_key_value_heads=4, original_max_position_embeddings=128, rope_scaling=None),
        "phi3_long": dict(base, architectures=["Phi3ForCausalLM"], model_type="phi3", tie_word_embeddings=False,
                          num_key_value_heads=4, original_max_position_embeddings=64, sliding_window=2047,
                          rope_scaling={"type": "longrope",
                                        "long_factor": [1.0, 1.5, 2.0, 3.0, 4.5, 6.0, 8.0, 12.0],
                                        "short_factor": [1.0, 1.0, 1.1, 1.2, 1.3, 1.5, 1.7, 2.0]}),
        "mixtral": dict(base, architectures=["MixtralForCausalLM"], model_type="mixtral", tie_word_embeddings=False,
                        num_local_experts=4, num_experts_per_tok=2, intermediate_size=32),
        "qwen2moe": dict(base, architectures=["Qwen2MoeForCausalLM"], model_type="qwen2_moe", tie_word_embeddings=False,
                         num_experts=4, num_experts_per_tok=2, moe_intermediate_size=32,
                         shared_expert_intermediate_size=48, norm_topk_prob=False, decoder_sparse_step=1,
                         mlp_only_layers=[], rms_norm_eps=1e-6),
        "qwen3moe": dict(base, architectures=["Qwen3MoeForCausalLM"], model_type="qwen3_moe", tie_word_embeddings=False,
                         head_dim=32, num_experts=4, num_experts_per_tok=2, moe_intermediate_size=32,
                         norm_topk_prob=True, decoder_sparse_step=1, mlp_only_layers=[], rms_norm_eps=1e-6),
        "phi2": {"architectures": ["PhiForCausalLM"], "model_type": "phi", "hidden_size": 64, "num_hidden_layers": 2,
                 "num_attention_heads": 4, "intermediate_size": 128, "max_position_embeddings": 128,
                 "layer_norm_eps": 1e-5, "partial_rotary_factor": 0.5, "rope_theta": 10000.0, "hidden_act": "gelu_new",
                 "qk_layernorm": False, "tie_word_embeddings": False, "vocab_size": V, "bos_token_id": V - 2, "eos_token_id": V - 1},
        # hidden_act gelu_new: Pythia's exact-erf "gelu" is computed by llama.cpp with the tanh form
        "gptneox": {"architectures": ["GPTNeoXForCausalLM"], "model_type": "gpt_neox", "hidden_size": 64,
                    "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 256,
                    "max_position_embeddings": 128, "layer_norm_eps": 1e-5, "rotary_pct": 0.25,
                    "rotary_emb_base": 10000, "hidden_act": "gelu_new", "use_parallel_residual": True,
                    "tie_word_embeddings": False, "vocab_size": V, "bos_token_id": V - 2, "eos_token_id": V - 1},
        # activation gelu_new: llama.cpp computes every GELU in the tanh form
        "falcon": {"architectures": ["FalconForCausalLM"], "model_type": "falcon", "hidden_size": 64,
                   "num_hidden_layers": 2, "num_attention_heads": 4, "num_kv_heads": 2, "new_decoder_architecture": True,
                   "multi_query": False, "parallel_attn": True, "bias": False, "alibi": False, "intermediate_size": 256,
                   "ffn_hidden_size": 256, "activation": "gelu_new",
                   "layer_norm_epsilon": 1e-5, "max_position_embeddings": 128, "rope_theta": 10000.0,
                   "tie_word_embeddings": False, "vocab_size": V, "bos_token_id": V - 2, "eos_token_id": V - 1},
        "falcon7b": {"architectures": ["FalconForCausalLM"], "model_type": "falcon", "hidden_size": 64,
                     "num_hidden_layers": 2, "num_attention_heads": 4, "new_decoder_architecture": False,
                     "multi_query": True, "parallel_attn": True, "bias": False, "alibi": False, "intermediate_size": 256,
                     "activation": "gelu_new", "layer_norm_epsilon": 1e-5, "rope_theta": 10000.0,
                     "tie_word_embeddings": False, "vocab_size": V, "bos_token_id": V - 2, "eos_token_id": V - 1},
        "starcoder2": dict(base, architectures=["Starcoder2ForCausalLM"], model_type="starcoder2", tie_word_embeddings=True,
                           norm_epsilon=1e-5, hidden_act="gelu_pytorch_tanh", use_bias=True, rope_theta=100000.0),
        "stablelm": dict(base, architectures=["StableLmForCausalLM"], model_type="stablelm", tie_word_embeddings=False,
                         layer_norm_eps=1e-5, partial_rotary_factor=0.25, use_qkv_bias=True, qk_layernorm=False,
                         use_parallel_residual=False, hidden_act="silu", num_key_value_heads=4),
        "olmo2": dict(base, architectures=["Olmo2ForCausalLM"], model_type="olmo2", tie_word_embeddings=False,
                      rms_norm_eps=1e-6),
        "granite": dict(base, architectures=["GraniteForCausalLM"], model_type="granite", tie_word_embeddings=True,
                        embedding_multiplier=12.0, attention_multiplier=0.015625 * 4, residual_multiplier=0.22,
                        logits_scaling=8.0),
        "granitemoe": dict(base, architectures=["GraniteMoeForCausalLM"], model_type="granitemoe",
                           tie_word_embeddings=True, embedding_multiplier=12.0, attention_multiplier=0.0625,
                           residual_multiplier=0.22, logits_scaling=8.0, num_local_experts=4, num_experts_per_tok=2,
                           intermediate_size=32),
        "commandr": dict(base, architectures=["CohereForCausalLM"], model_type="cohere", tie_word_embeddings=True,
                         layer_norm_eps=1e-5, logit_scale=0.0625 * 8, use_qk_norm=False, rms_norm_eps=None),
        "deepseek2": dict(base, architectures=["DeepseekV2ForCausalLM"], model_type="deepseek_v2", tie_word_embeddings=False,
                          num_key_value_heads=4, q_lora_rank=24, kv_lora_rank=16, qk_nope_head_dim=8, qk_rope_head_dim=8,
                          v_head_dim=12, first_k_dense_replace=1, n_routed_experts=4, num_experts_per_tok=2,
                          n_shared_experts=1, moe_intermediate_size=32, routed_scaling_factor=2.0, norm_topk_prob=False,
                          scoring_func="softmax", topk_method="greedy", rms_norm_eps=1e-6, rope_scaling=None),
        "deepseek3": dict(base, architectures=["DeepseekV3ForCausalLM"], model_type="deepseek_v3", tie_word_embeddings=False,
                          num_key_value_heads=4, q_lora_rank=24, kv_lora_rank=16, qk_nope_head_dim=8, qk_rope_head_dim=8,
                          v_head_dim=12, first_k_dense_replace=1, n_routed_experts=4, num_experts_per_tok=2,
                          n_shared_experts=1, moe_intermediate_size=32, routed_scaling_factor=2.5, norm_topk_prob=True,
                          scoring_func="sigmoid", topk_method="noaux_tc", n_group=1, topk_group=1, rms_norm_eps=1e-6,
                          rope_scaling=None),
        # hidden_act gelu_new: llama.cpp computes every GELU in the tanh form
        "bert": {"architectures": ["BertModel"], "model_type": "bert", "hidden_size": 64, "num_hidden_layers": 2,
                 "num_attention_heads": 4, "intermediate_size": 128, "max_position_embeddings": 128,
                 "layer_norm_eps": 1e-12, "type_vocab_size": 2, "hidden_act": "gelu_new",
                 "position_embedding_type": "absolute", "vocab_size": V, "bos_token_id": V - 2, "eos_token_id": V - 1},
        "nomicbert": {"architectures": ["NomicBertModel"], "model_type": "nomic_bert", "n_embd": 64, "n_layer": 2,
                      "n_head": 4, "n_inner": 96, "n_positions": 128, "layer_norm_epsilon": 1e-12, "type_vocab_size": 2,
                      "rotary_emb_base": 1000, "rotary_emb_fraction": 1.0, "rotary_emb_interleaved": False,
                      "activation_function": "swiglu", "causal": False, "prenorm": False, "qkv_proj_bias": False,
                      "mlp_fc1_bias": False, "mlp_fc2_bias": False, "vocab_size": V, "bos_token_id": V - 2,
                      "eos_token_id": V - 1},
        "gptoss": dict(base, architectures=["GptOssForCausalLM"], model_type="gpt_oss", tie_word_embeddings=False,
                       head_dim=16, num_key_value_heads=2, intermediate_size=64, num_local_experts=4,
                       num_experts_per_tok=2, experts_per_token=2, sliding_window=128, swiglu_limit=7.0,
                       attention_bias=True, layer_types=["sliding_attention", "full_attention"], rope_scaling=None,
                       quantization_config={"quant_method": "mxfp4"}),
        "gpt2": {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "n_embd": 64, "n_layer": 2,
                 "n_head": 4, "n_ctx": 128, "n_positions": 128, "layer_norm_epsilon": 1e-5, "vocab_size": V,
                 "bos_token_id": V - 2, "eos_token_id": V - 1, "activation_function": "gelu_new"},
    }


# gpt-oss's MXFP4 experts take Q8_0-rounded activations and a sharp top-k router: the
# half-precision perturbation of the other weights crosses rounding and routing
# boundaries (F32 agrees to 1e-6, which checks the conversion itself).
TOLERANCES = {"gptoss": {"F16": 0.05, "BF16": 0.15}}

PARALLEL = ("phi2", "gptneox")
OTHER = ("falcon", "starcoder2", "stablelm")
MISC = ("olmo2", "granite", "granitemoe", "commandr")
ENCODERS = ("bert", "nomicbert")

# model -> (GGUF architecture, README title)
TITLES = {
    "llama": ("llama", "llama (PyTorch .bin)"), "llama_spm": ("llama", "llama, SentencePiece"),
    "llama3": ("llama", "llama 3.1 rope scaling"), "mistral": ("llama", "mistral"), "mixtral": ("llama", "mixtral"),
    "qwen2": ("qwen2", "qwen2"), "qwen3": ("qwen3", "qwen3"), "gemma": ("gemma", "gemma"), "gemma2": ("gemma2", "gemma2"),
    "gemma3": ("gemma3", "gemma3 (text)"),
    "qwen2moe": ("qwen2moe", "qwen2moe"), "qwen3moe": ("qwen3moe", "qwen3moe"),
    "phi2": ("phi2", "phi2"), "falcon": ("falcon", "falcon (40B layout)"),
    "falcon7b": ("falcon", "falcon (7B layout, multi-query)"), "starcoder2": ("starcoder2", "starcoder2"),
    "stablelm": ("stablelm", "stablelm 2"), "olmo2": ("olmo2", "olmo2"), "granite": ("granite", "granite"),
    "granitemoe": ("granitemoe", "granitemoe"), "bert": ("bert", "bert (embeddings)"),
    "nomicbert": ("nomic-bert", "nomic-bert (embeddings)"), "gptoss": ("gpt-oss", "gpt-oss (MXFP4 experts)"),
    "deepseek2": ("deepseek2", "deepseek-v2 (MLA, softmax MoE)"), "deepseek3": ("deepseek2", "deepseek-v3 (MLA, sigmoid MoE)"),
    "commandr": ("command-r", "command-r (cohere)"), "gptneox": ("gptneox", "gpt-neox"),
    "phi3": ("phi3", "phi3 / phi4"), "phi3_long": ("phi3", "phi3 long rope"), "gpt2": ("gpt2", "gpt2"),
}


def build(outdir):
    vocab, merges = train_bpe(300)
    bpe = BPE(vocab, merges)
    spm_vocab = train_spm(300)
    ref = {"strings": STRINGS, "models": {}}
    for name, c in models(len(vocab) + 2, len(spm_vocab)).items():
        d = os.path.join(outdir, name)
        os.makedirs(d, exist_ok=True)
        add_bos = name in ("llama", "llama3", "llama_spm", "mistral", "mixtral", "gemma", "gemma2")
        if name in ("llama_spm", "gemma"):
            tok = SPM(spm_vocab, add_dummy_prefix=(name != "gemma"))
            write_spm(d, spm_vocab, tok.prefix)
        else:
            tok = bpe
            tokenizer_files(d, vocab, merges, add_bos)
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(c, f, indent=1)
        g = torch.Generator().manual_seed(sum(map(ord, name)))
        kind = {"mistral": "llama", "llama_spm": "llama", "llama3": "llama", "phi3_long": "phi3", "falcon7b": "falcon"}.get(name, name)
        if name == "gpt2":
            W = gpt2_weights(c, g)
        elif kind in PARALLEL:
            W = parallel_weights(c, kind, g)
        elif kind in OTHER:
            W = other_weights(c, kind, g)
        elif kind in MISC:
            W = misc_weights(c, kind, g)
        elif kind in ("deepseek2", "deepseek3"):
            W = deepseek_weights(c, g)
        elif kind in ENCODERS:
            W = encoder_weights(c, kind, g)
        elif kind == "gptoss":
            W = gptoss_weights(c, g)
        else:
            W = decoder_weights(c, kind, g, c["tie_word_embeddings"])
        # the reference uses the float32-rounded weights the files hold
        W = {k: v if v.dtype == torch.uint8 else v.to(torch.float32).to(torch.float64) for k, v in W.items()}
        if name == "gemma":  # a stored tied head, which the converter must drop
            W["lm_head.weight"] = W["model.embed_tokens.weight"].clone()
        if name == "llama":  # PyTorch weights, to cover the .bin path
            torch.save({k: v.to(torch.float32) for k, v in W.items()}, os.path.join(d, "pytorch_model.bin"))
        else:
            write_safetensors(os.path.join(d, "model.safetensors"), W)
        prompts = []
        for text in PROMPTS:
            ids = ([c["bos_token_id"]] if add_bos else []) + tok.encode(text)
            with torch.no_grad():
                if name == "gpt2":
                    logits = gpt2_forward(c, W, ids)
                elif kind in PARALLEL:
                    logits = parallel_forward(c, W, ids, kind)
                elif kind == "falcon":
                    logits = falcon_forward(c, W, ids)
                elif kind in OTHER:
                    logits = ln_decoder_forward(c, W, ids, kind)
                elif kind in MISC:
                    logits = misc_forward(c, W, ids, kind)
                elif kind in ("deepseek2", "deepseek3"):
                    logits = deepseek_forward(c, W, ids)
                elif kind in ENCODERS:
                    logits = encoder_forward(c, W, ids, kind)
                elif kind == "gptoss":
                    logits = gptoss_forward(c, W, ids)
                else:
                    logits = decoder_forward(c, W, ids, kind)
            prompts.append({"ids": ids, "logits": logits.tolist()})
        with open(os.path.join(d, "tokenizer_config.json")) as f:
            template = json.load(f)["chat_template"]
        family, title = TITLES[name]
        ref["models"][name] = {"family": family, "title": title, "embed": kind in ENCODERS,
                               "tolerance": TOLERANCES.get(name, {}),
                               "tokenizer": "SentencePiece" if tok is not bpe else "byte-level BPE",
                               "chat_template": template, "add_bos": add_bos, "bos": c["bos_token_id"], "prompts": prompts,
                               "tokens": [tok.encode(x) for x in STRINGS]}
    with open(os.path.join(outdir, "reference.json"), "w") as f:
        json.dump(ref, f)


# ---- llama.cpp through ctypes

class Batch(ctypes.Structure):
    _fields_ = [("n_tokens", ctypes.c_int32), ("token", ctypes.c_void_p), ("embd", ctypes.c_void_p),
                ("pos", ctypes.c_void_p), ("n_seq_id", ctypes.c_void_p), ("seq_id", ctypes.c_void_p),
                ("logits", ctypes.c_void_p)]


class Blob(ctypes.Structure):
    # llama_model_params / llama_context_params passed by value; larger than either
    # (callers pass and receive them through memory, so extra bytes are ignored).
    _fields_ = [("b", ctypes.c_uint8 * 1024)]


def run_llama(libdir, gguf, prompts_path):
    libllama = sorted(glob.glob(os.path.join(libdir, "libllama*.so")))
    libllama = [p for p in libllama if "common" not in p][0]
    libggml = sorted(glob.glob(os.path.join(libdir, "libggml.*so")))[0]
    ggml = ctypes.CDLL(libggml, mode=ctypes.RTLD_GLOBAL)
    ggml.ggml_backend_load_all_from_path.argtypes = [ctypes.c_char_p]
    ggml.ggml_backend_load_all_from_path(libdir.encode())
    L = ctypes.CDLL(libllama)
    L.llama_backend_init()
    L.llama_model_default_params.restype = Blob
    L.llama_context_default_params.restype = Blob
    L.llama_model_load_from_file.argtypes = [ctypes.c_char_p, Blob]
    L.llama_model_load_from_file.restype = ctypes.c_void_p
    L.llama_init_from_model.argtypes = [ctypes.c_void_p, Blob]
    L.llama_init_from_model.restype = ctypes.c_void_p
    L.llama_model_get_vocab.argtypes = [ctypes.c_void_p]
    L.llama_model_get_vocab.restype = ctypes.c_void_p
    L.llama_vocab_n_tokens.argtypes = [ctypes.c_void_p]
    L.llama_tokenize.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int32, ctypes.POINTER(ctypes.c_int32),
                                 ctypes.c_int32, ctypes.c_bool, ctypes.c_bool]
    L.llama_batch_get_one.argtypes = [ctypes.POINTER(ctypes.c_int32), ctypes.c_int32]
    L.llama_batch_get_one.restype = Batch
    L.llama_decode.argtypes = [ctypes.c_void_p, Batch]
    L.llama_get_logits_ith.argtypes = [ctypes.c_void_p, ctypes.c_int32]
    L.llama_get_logits_ith.restype = ctypes.POINTER(ctypes.c_float)
    L.llama_free.argtypes = [ctypes.c_void_p]
    L.llama_model_free.argtypes = [ctypes.c_void_p]

    model = L.llama_model_load_from_file(gguf.encode(), L.llama_model_default_params())
    if not model:
        raise SystemExit("llama.cpp could not load " + gguf)
    vocab = L.llama_model_get_vocab(model)
    n_vocab = L.llama_vocab_n_tokens(vocab)
    req = json.load(open(prompts_path))

    def tokenize(text, add_special):
        b = text.encode("utf-8")
        buf = (ctypes.c_int32 * (len(b) + 8))()
        n = L.llama_tokenize(vocab, b, len(b), buf, len(buf), add_special, False)
        if n < 0:
            raise SystemExit("llama_tokenize failed")
        return list(buf[:n])

    L.llama_model_chat_template.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    L.llama_model_chat_template.restype = ctypes.c_char_p
    tmpl = L.llama_model_chat_template(model, None)
    out = {"chat_template": tmpl.decode("utf-8") if tmpl else None, "n_vocab": n_vocab, "tokens": [tokenize(s, False) for s in req["strings"]],
           "special": [tokenize(s, True) for s in req["strings"]], "logits": [], "exact_kv": False}
    embed = req.get("embed", False)
    L.llama_model_n_embd.argtypes = [ctypes.c_void_p]
    L.llama_encode.argtypes = [ctypes.c_void_p, Batch]
    L.llama_get_embeddings_ith.argtypes = [ctypes.c_void_p, ctypes.c_int32]
    L.llama_get_embeddings_ith.restype = ctypes.POINTER(ctypes.c_float)
    for ids in req["ids"]:
        cp = L.llama_context_default_params()
        raw = bytes(cp.b)
        if embed:
            # Offsets from llama.h of the same release: pooling_type at 44 (-1, from the model),
            # embeddings at 128 (false); refuse to guess on another layout.
            if struct.unpack_from("<i", raw, 44)[0] != -1 or raw[128] != 0:
                raise SystemExit("llama_context_params layout differs from the llama.h this script knows")
            struct.pack_into("<i", cp.b, 44, 0)  # LLAMA_POOLING_TYPE_NONE: per-token hidden states
            cp.b[128] = 1
        # Offsets from llama.h of the same release: n_batch at 4, n_threads at 28, flash_attn_type at 52,
        # type_k/type_v at 104/108 (GGML_TYPE_F16 = 1 by default). Checked before use,
        # so a different layout only costs KV-cache precision.
        n_batch, fa, tk, tv = struct.unpack_from("<I", raw, 4)[0], struct.unpack_from("<i", raw, 52)[0], \
            struct.unpack_from("<I", raw, 104)[0], struct.unpack_from("<I", raw, 108)[0]
        if n_batch == 2048 and fa == -1 and tk == 1 and tv == 1:
            struct.pack_into("<i", cp.b, 52, 0)   # flash attention off
            struct.pack_into("<I", cp.b, 104, 0)  # K cache F32
            struct.pack_into("<I", cp.b, 108, 0)  # V cache F32
            struct.pack_into("<ii", cp.b, 28, 1, 1)  # n_threads, n_threads_batch: tiny models
            out["exact_kv"] = True
        ctx = L.llama_init_from_model(model, cp)
        if not ctx:
            raise SystemExit("llama_init_from_model failed")
        arr = (ctypes.c_int32 * len(ids))(*ids)
        if embed:
            rc = L.llama_encode(ctx, L.llama_batch_get_one(arr, len(ids)))
            if rc != 0:
                raise SystemExit("llama_encode returned %d" % rc)
            p = L.llama_get_embeddings_ith(ctx, -1)
            if not p:
                raise SystemExit("llama_get_embeddings_ith returned NULL")
            out["logits"].append([p[i] for i in range(L.llama_model_n_embd(model))])
        else:
            rc = L.llama_decode(ctx, L.llama_batch_get_one(arr, len(ids)))
            if rc != 0:
                raise SystemExit("llama_decode returned %d" % rc)
            p = L.llama_get_logits_ith(ctx, -1)
            out["logits"].append([p[i] for i in range(n_vocab)])
        L.llama_free(ctx)
    L.llama_model_free(model)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    if sys.argv[1] == "build":
        import torch
        torch.set_num_threads(1)
        build(sys.argv[2])
    elif sys.argv[1] == "llama":
        run_llama(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        raise SystemExit(__doc__)
