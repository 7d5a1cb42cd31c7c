"""
Writes test/fixtures/foreign-gguf/{llama,qwen2,qwen3}.gguf: GGUF files this engine did not
write, made with llama.cpp's own gguf-py (GGUFWriter, quants.py) from the Hugging Face folders
of configs.ts. llama.cpp's convert_hf_to_gguf.py needs torch and transformers (a heavy install), so
this follows its conventions by hand (LlamaModel / Qwen2Model / Qwen3Model: metadata keys,
tensor names, the q/k row permutation of `llama`, Llama 3's rope_freqs, 1-D tensors in F32,
a byte-level BPE vocabulary) and then mixes block types as llama-quantize's presets do:

  llama  Q4_K_M: Q4_K, with Q6_K for the (tied) output and attn_v/ffn_down; rows not whole
         256-value blocks fall back (llama-quant.cpp): Q4_K -> Q5_0, Q6_K -> Q8_0
  qwen2  Q5_K_M: Q5_K, with Q6_K for output/attn_v/ffn_down (fallback Q6_K -> Q8_0)
  qwen3  one of each 32-value block type and the halves: Q8_0, Q4_0, Q4_1, Q5_1, Q5_0, F16, BF16

K-quants come from ggml-quants.c's quantize_row_*_ref (gguf-py has no K-quantizer), through
scripts/quant-goldens/harness.c.

  npm run build && node dist/scripts/foreign-gguf/configs.js /tmp/foreign
  PYTHONPATH=/tmp/llama.cpp/gguf-py python3 scripts/foreign-gguf/convert.py /tmp/foreign [/tmp/llama.cpp]
"""
import json
import math
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np
import gguf
from gguf import GGMLQuantizationType as Q, quants

SRC = sys.argv[1]
LLAMA_CPP = sys.argv[2] if len(sys.argv) > 2 else "/tmp/llama.cpp"
HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "..", "test", "fixtures", "foreign-gguf")
K_QUANTS = {Q.Q4_K: "Q4_K", Q.Q5_K: "Q5_K", Q.Q6_K: "Q6_K"}
FALLBACK = {Q.Q4_K: Q.Q5_0, Q.Q5_K: Q.Q5_1, Q.Q6_K: Q.Q8_0}


def read_safetensors(path: str) -> dict[str, np.ndarray]:
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        assert t["dtype"] == "F32"
        a, b = t["data_offsets"]
        out[name] = np.frombuffer(data[8 + n + a:8 + n + b], dtype=np.float32).reshape(t["shape"])
    return out


def build_harness(tmp: str) -> str:
    exe = os.path.join(tmp, "harness")
    ggml = os.path.join(LLAMA_CPP, "ggml")
    subprocess.run(["gcc", "-O2", "-ffp-contract=off", f"-I{ggml}/include", f"-I{ggml}/src", os.path.join(HERE, "..", "quant-goldens", "harness.c"),
                    os.path.join(ggml, "src", "ggml-quants.c"), "-lm", "-o", exe], check=True)
    return exe


def encode(exe: str, w: np.ndarray, qtype: Q) -> np.ndarray:
    """A 2-D (rows, cols) f32 matrix in qtype (or its fallback): the data for add_tensor and its type."""
    block, size = gguf.GGML_QUANT_SIZES[qtype]
    if qtype in FALLBACK and w.shape[1] % block != 0:
        qtype = FALLBACK[qtype]
        block, size = gguf.GGML_QUANT_SIZES[qtype]
    if qtype == Q.F32:
        return w.astype(np.float32), qtype
    if qtype == Q.F16:
        return w.astype(np.float16), qtype
    if qtype in K_QUANTS:
        raw = subprocess.run([exe, "q", K_QUANTS[qtype], str(w.size)], input=np.ascontiguousarray(w, dtype=np.float32).tobytes(), capture_output=True, check=True).stdout
        return np.frombuffer(raw, dtype=np.uint8).reshape(w.shape[0], w.shape[1] // block * size), qtype
    return quants.quantize(w, qtype), qtype


def permute(w: np.ndarray, n_head: int) -> np.ndarray:
    """LlamaModel.permute: rotate-half pairs (i, i + hs/2) to ggml's adjacent pairs."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def llama3_rope_factors(h: dict) -> np.ndarray:
    r = h["rope_scaling"]
    dim = h.get("head_dim") or h["hidden_size"] // h["num_attention_heads"]
    freqs = 1.0 / (h["rope_theta"] ** (np.arange(0, dim, 2, dtype=np.float32) / dim))
    low, high = r["original_max_position_embeddings"] / r["low_freq_factor"], r["original_max_position_embeddings"] / r["high_freq_factor"]
    out = []
    for freq in freqs:
        wavelen = 2 * math.pi / freq
        if wavelen < high:
            out.append(1)
        elif wavelen > low:
            out.append(r["factor"])
        else:
            smooth = (r["original_max_position_embeddings"] / wavelen - r["low_freq_factor"]) / (r["high_freq_factor"] - r["low_freq_factor"])
            out.append(1 / ((1 - smooth) / r["factor"] + smooth))
    return np.array(out, dtype=np.float32)


def types_for(kind: str, role: str, layer: int) -> Q:
    if kind == "llama":  # Q4_K_M, one layer: use_more_bits(0, 1) is true for attn_v and ffn_down
        return {"token_embd": Q.Q6_K, "output": Q.Q6_K, "attn_v": Q.Q6_K, "ffn_down": Q.Q6_K}.get(role, Q.Q4_K)
    if kind == "qwen2":  # Q5_K_M
        return {"output": Q.Q6_K, "attn_v": Q.Q6_K, "ffn_down": Q.Q6_K}.get(role, Q.Q5_K)
    return {"token_embd": Q.Q8_0, "output": Q.BF16, "attn_q": Q.Q4_0, "attn_k": Q.Q4_1, "attn_v": Q.Q5_1,
            "attn_output": Q.Q5_0, "ffn_gate": Q.F16, "ffn_up": Q.BF16, "ffn_down": Q.Q8_0 if layer == 0 else Q.Q4_1}[role]


FILE_TYPE = {"llama": 15, "qwen2": 17, "qwen3": 7}  # llama_ftype: MOSTLY_Q4_K_M, MOSTLY_Q5_K_M, MOSTLY_Q8_0


def add_vocab(w: gguf.GGUFWriter, kind: str, h: dict) -> None:
    """_set_vocab_gpt2 as for Llama 3 (pre-tokenizer llama-bpe) and Qwen (qwen2): byte-level BPE tokens and merges."""
    v = h["vocab_size"]
    letters = [chr(ord("a") + i) for i in range(26)]
    merges = [f"{a} {b}" for a, b in zip(letters, letters[1:])][: v - 26 - 1]
    tokens = letters + [m.replace(" ", "") for m in merges] + ["<|endoftext|>"]
    tokens += [f"[PAD{i}]" for i in range(v - len(tokens))]
    types = [gguf.TokenType.NORMAL] * (26 + len(merges)) + [gguf.TokenType.CONTROL] + [gguf.TokenType.UNUSED] * (v - 27 - len(merges))
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("llama-bpe" if kind == "llama" else "qwen2")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_bos_token_id(h["bos_token_id"])
    w.add_eos_token_id(h["eos_token_id"])


def convert(exe: str, kind: str) -> None:
    folder = os.path.join(SRC, kind)
    h = json.load(open(os.path.join(folder, "config.json")))
    t = read_safetensors(os.path.join(folder, "model.safetensors"))
    arch = {"llama": "llama", "qwen2": "qwen2", "qwen3": "qwen3"}[kind]
    nh, nkv = h["num_attention_heads"], h["num_key_value_heads"]
    hs = h.get("head_dim") or h["hidden_size"] // nh
    path = os.path.join(OUT, f"{kind}.gguf")
    w = gguf.GGUFWriter(path, arch)
    w.add_name(f"foreign-{kind}")
    w.add_block_count(h["num_hidden_layers"])
    w.add_context_length(h["max_position_embeddings"])
    w.add_embedding_length(h["hidden_size"])
    w.add_feed_forward_length(h["intermediate_size"])
    w.add_head_count(nh)
    w.add_head_count_kv(nkv)
    w.add_rope_freq_base(h["rope_theta"])
    w.add_layer_norm_rms_eps(h["rms_norm_eps"])
    if "head_dim" in h:
        w.add_key_length(hs)
        w.add_value_length(hs)
    w.add_file_type(FILE_TYPE[kind])
    if kind == "llama":
        w.add_vocab_size(h["vocab_size"])
        w.add_rope_dimension_count(hs)
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)
    add_vocab(w, kind, h)

    def matrix(name: str, role: str, layer: int, a: np.ndarray) -> None:
        data, qtype = encode(exe, a, types_for(kind, role, layer))
        w.add_tensor(name, data, raw_dtype=qtype)

    def vector(name: str, a: np.ndarray) -> None:
        w.add_tensor(name, a.astype(np.float32))

    matrix("token_embd.weight", "token_embd", 0, t["model.embed_tokens.weight"])
    if kind == "llama" and h.get("rope_scaling", {}).get("rope_type") == "llama3":
        vector("rope_freqs.weight", llama3_rope_factors(h))
    for l in range(h["num_hidden_layers"]):
        p, b = f"model.layers.{l}", f"blk.{l}"
        q, k = t[f"{p}.self_attn.q_proj.weight"], t[f"{p}.self_attn.k_proj.weight"]
        if arch == "llama":
            q, k = permute(q, nh), permute(k, nkv)
        vector(f"{b}.attn_norm.weight", t[f"{p}.input_layernorm.weight"])
        matrix(f"{b}.attn_q.weight", "attn_q", l, q)
        matrix(f"{b}.attn_k.weight", "attn_k", l, k)
        matrix(f"{b}.attn_v.weight", "attn_v", l, t[f"{p}.self_attn.v_proj.weight"])
        for x in ("q", "k", "v"):
            if f"{p}.self_attn.{x}_proj.bias" in t:
                vector(f"{b}.attn_{x}.bias", t[f"{p}.self_attn.{x}_proj.bias"])
        if f"{p}.self_attn.q_norm.weight" in t:
            vector(f"{b}.attn_q_norm.weight", t[f"{p}.self_attn.q_norm.weight"])
            vector(f"{b}.attn_k_norm.weight", t[f"{p}.self_attn.k_norm.weight"])
        matrix(f"{b}.attn_output.weight", "attn_output", l, t[f"{p}.self_attn.o_proj.weight"])
        vector(f"{b}.ffn_norm.weight", t[f"{p}.post_attention_layernorm.weight"])
        matrix(f"{b}.ffn_gate.weight", "ffn_gate", l, t[f"{p}.mlp.gate_proj.weight"])
        matrix(f"{b}.ffn_up.weight", "ffn_up", l, t[f"{p}.mlp.up_proj.weight"])
        matrix(f"{b}.ffn_down.weight", "ffn_down", l, t[f"{p}.mlp.down_proj.weight"])
    vector("output_norm.weight", t["model.norm.weight"])
    if "lm_head.weight" in t:
        matrix("output.weight", "output", 0, t["lm_head.weight"])

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")


def main() -> None:
    os.makedirs(OUT, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        exe = build_harness(tmp)
        for kind in ("llama", "qwen2", "qwen3"):
            convert(exe, kind)


main()
