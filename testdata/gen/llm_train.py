#!/usr/bin/python3
"""Train a tiny llama-architecture model on real text, for refit eval's perplexity and
KL figures (README's table of quantization types) and its llama.cpp agreement test.

  llm_train.py OUTDIR TRAIN.txt [STEPS]

writes a Hugging Face folder (config.json, model.safetensors, tokenizer.json,
tokenizer_config.json) to OUTDIR. The text is testdata/llm/train.txt: the package
documentation of this repository (the doc.go comments, the last quarter held out as
testdata/llm/eval.txt). Byte-level BPE with 700 merges, trained here on the same text;
4 layers of width 256, 4 heads of 64 with 2 KV heads (GQA), SwiGLU of 512; every
row width a multiple of 256 so that every k-quant applies. About 2.9M parameters; a
few minutes with one torch thread (default 200 steps of 16 x 128 tokens, AdamW).
Deterministic for a given torch build: fixed seeds, one thread.

Reuses testdata/gen/llm.py (the BPE trainer and tokenizer files), found beside this
script or in the directory named by REFIT_GEN_DIR.
"""
import json, math, os, struct, sys

import torch

gen = os.environ.get("REFIT_GEN_DIR") or os.path.dirname(os.path.abspath(sys.argv[0]))
sys.path.insert(0, gen)
import llm  # noqa: E402

llm.torch = torch  # llm.py imports torch only when run as a script

E, LAYERS, H, KV, F, CTX = 256, 4, 4, 2, 512, 128
HD = E // H
THETA, EPS = 10000.0, 1e-5


def rms(x, w):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + EPS) * w


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), -1)


def forward(W, ids):
    # ids: [B, T] -> logits [B, T, V]; Hugging Face llama semantics (half-split RoPE).
    B, T = ids.shape
    x = W["model.embed_tokens.weight"][ids]
    inv = 1.0 / (THETA ** (torch.arange(0, HD, 2, dtype=torch.float32) / HD))
    ang = torch.outer(torch.arange(T, dtype=torch.float32), inv)
    emb = torch.cat((ang, ang), -1)
    cos, sin = emb.cos(), emb.sin()
    mask = torch.triu(torch.full((T, T), float("-inf")), 1)
    for i in range(LAYERS):
        L = f"model.layers.{i}."
        h = rms(x, W[L + "input_layernorm.weight"])
        q = (h @ W[L + "self_attn.q_proj.weight"].T).view(B, T, H, HD).transpose(1, 2)
        k = (h @ W[L + "self_attn.k_proj.weight"].T).view(B, T, KV, HD).transpose(1, 2)
        v = (h @ W[L + "self_attn.v_proj.weight"].T).view(B, T, KV, HD).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(H // KV, 1)
        v = v.repeat_interleave(H // KV, 1)
        s = q @ k.transpose(-1, -2) / math.sqrt(HD) + mask
        a = (torch.softmax(s, -1) @ v).transpose(1, 2).reshape(B, T, E)
        x = x + a @ W[L + "self_attn.o_proj.weight"].T
        h = rms(x, W[L + "post_attention_layernorm.weight"])
        g = torch.nn.functional.silu(h @ W[L + "mlp.gate_proj.weight"].T) * (h @ W[L + "mlp.up_proj.weight"].T)
        x = x + g @ W[L + "mlp.down_proj.weight"].T
    x = rms(x, W["model.norm.weight"])
    return x @ W["lm_head.weight"].T


def init(V, g):
    r = lambda *s, std=0.02: torch.randn(*s, generator=g) * std
    W = {"model.embed_tokens.weight": r(V, E), "model.norm.weight": torch.ones(E), "lm_head.weight": r(V, E)}
    out_std = 0.02 / math.sqrt(2 * LAYERS)
    for i in range(LAYERS):
        L = f"model.layers.{i}."
        W[L + "input_layernorm.weight"] = torch.ones(E)
        W[L + "post_attention_layernorm.weight"] = torch.ones(E)
        W[L + "self_attn.q_proj.weight"] = r(H * HD, E)
        W[L + "self_attn.k_proj.weight"] = r(KV * HD, E)
        W[L + "self_attn.v_proj.weight"] = r(KV * HD, E)
        W[L + "self_attn.o_proj.weight"] = r(E, H * HD, std=out_std)
        W[L + "mlp.gate_proj.weight"] = r(F, E)
        W[L + "mlp.up_proj.weight"] = r(F, E)
        W[L + "mlp.down_proj.weight"] = r(E, F, std=out_std)
    return W


def main(outdir, train_path, steps):
    torch.manual_seed(0)
    torch.set_num_threads(1)
    text = open(train_path, encoding="utf-8").read()
    llm.CORPUS = text
    vocab, merges = llm.train_bpe(700)
    bpe = llm.BPE(vocab, merges)
    os.makedirs(outdir, exist_ok=True)
    V = llm.tokenizer_files(outdir, vocab, merges, True)
    ids = torch.tensor(bpe.encode(text), dtype=torch.long)
    print(f"{len(vocab)} byte-level BPE tokens; the text is {len(ids)} tokens", file=sys.stderr)
    g = torch.Generator().manual_seed(1)
    W = init(V, g)
    for t in W.values():
        t.requires_grad_(True)
    opt = torch.optim.AdamW(W.values(), lr=3e-3, betas=(0.9, 0.95), weight_decay=0.01)
    B = 16
    for step in range(steps):
        lr = 3e-3 * min(1.0, (step + 1) / 30) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / steps)))
        for pg in opt.param_groups:
            pg["lr"] = lr
        starts = torch.randint(0, len(ids) - CTX - 1, (B,), generator=g)
        x = torch.stack([ids[s:s + CTX] for s in starts])
        y = torch.stack([ids[s + 1:s + CTX + 1] for s in starts])
        loss = torch.nn.functional.cross_entropy(forward(W, x).reshape(-1, V), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(W.values(), 1.0)
        opt.step()
        if step % 50 == 0 or step == steps - 1:
            print(f"step {step} loss {loss.item():.3f}", file=sys.stderr)
    cfg = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": E, "num_hidden_layers": LAYERS,
           "num_attention_heads": H, "num_key_value_heads": KV, "intermediate_size": F,
           "max_position_embeddings": 4 * CTX, "rms_norm_eps": EPS, "rope_theta": THETA, "vocab_size": V,
           "bos_token_id": V - 2, "eos_token_id": V - 1, "tie_word_embeddings": False, "hidden_act": "silu"}
    with open(os.path.join(outdir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    llm.write_safetensors(os.path.join(outdir, "model.safetensors"), {k: v.detach() for k, v in W.items()})


if __name__ == "__main__":
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 200)
