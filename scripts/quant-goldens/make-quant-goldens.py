"""
Writes test/fixtures/gguf-quants/: golden bytes and floats for every ggml type the engine reads,
from llama.cpp's own references, so the tests need neither Python nor llama.cpp:

  input.f32          512 values (two 256-value super-blocks) with zero, constant and outlier groups
  TYPE.quant         input.f32 quantized (gguf-py's quants.py where it has a quantizer, checked
                     against ggml-quants.c's quantize_row_*_ref; Q4_K/Q5_K/Q6_K from the C reference,
                     which gguf-py does not implement)
  TYPE.blocks        256 values' worth of random blocks (random bits, sane f16 scales)
  TYPE.dequant       TYPE.blocks dequantized by gguf-py, checked against ggml-quants.c's dequantize_row_*

  git clone bench/.peers/node_modules/node-llama-cpp/llama/gitRelease.bundle /tmp/llama.cpp
  PYTHONPATH=/tmp/llama.cpp/gguf-py python3 scripts/quant-goldens/make-quant-goldens.py [/tmp/llama.cpp]
"""
import os
import subprocess
import sys
import tempfile

import numpy as np
from gguf import GGMLQuantizationType as T, quants
from gguf.constants import GGML_QUANT_SIZES

LLAMA_CPP = sys.argv[1] if len(sys.argv) > 1 else "/tmp/llama.cpp"
HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "..", "test", "fixtures", "gguf-quants")

READ = ["F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q4_K", "Q5_K", "Q6_K"]
QUANTIZE = ["Q8_0", "Q4_0", "Q5_0", "Q5_1", "Q4_K", "Q5_K", "Q6_K"]
C_TYPES = {"Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q4_K", "Q5_K", "Q6_K"}


def build_harness(tmp: str) -> str:
    exe = os.path.join(tmp, "harness")
    ggml = os.path.join(LLAMA_CPP, "ggml")
    subprocess.run(["gcc", "-O2", "-ffp-contract=off", f"-I{ggml}/include", f"-I{ggml}/src", os.path.join(HERE, "harness.c"),
                    os.path.join(ggml, "src", "ggml-quants.c"), "-lm", "-o", exe], check=True)
    return exe


def c_ref(exe: str, mode: str, t: str, n: int, data: bytes) -> bytes:
    return subprocess.run([exe, mode, t, str(n)], input=data, capture_output=True, check=True).stdout


def make_input(rng: np.random.Generator) -> np.ndarray:
    x = rng.standard_normal(512).astype(np.float32) * np.repeat(np.float32([0.02, 1.5, 0.3, 7.0]), 128)
    x[32:64] = 0                       # an all-zero group
    x[96:128] = np.float32(0.25)       # a constant group
    x[200] = np.float32(40.0)          # an outlier
    x[300:316] = np.abs(x[300:316])    # a one-signed group
    x[400:432] = -np.abs(x[400:432])
    return x


def random_blocks(rng: np.random.Generator, t: str) -> bytes:
    qt = T[t]
    block, size = GGML_QUANT_SIZES[qt]
    n_blocks = 256 // block
    raw = rng.integers(0, 256, size=(n_blocks, size), dtype=np.uint8)
    # Put finite, moderate f16 values where the scales live (random bits would give inf/NaN).
    def halves(k):
        return (rng.uniform(0.001, 0.05, size=(n_blocks, k)) * rng.choice([-1, 1], size=(n_blocks, k))).astype(np.float16).view(np.uint8)
    if t in ("Q8_0", "Q4_0", "Q5_0"):
        raw[:, 0:2] = halves(1)
    elif t in ("Q4_1", "Q5_1", "Q4_K", "Q5_K"):
        raw[:, 0:4] = halves(2)
    elif t == "Q6_K":
        raw[:, 208:210] = halves(1)
    return raw.tobytes()


def main() -> None:
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(20261206)
    with tempfile.TemporaryDirectory() as tmp:
        exe = build_harness(tmp)
        x = make_input(rng)
        open(os.path.join(OUT, "input.f32"), "wb").write(x.tobytes())
        for t in QUANTIZE:
            ref = c_ref(exe, "q", t, x.size, x.tobytes())
            try:
                py = quants.quantize(x.reshape(2, 256), T[t]).tobytes()
                assert py == ref, f"{t}: gguf-py and ggml-quants.c quantize differently"
            except NotImplementedError:
                pass  # gguf-py has no quantizer for it: the C reference alone
            open(os.path.join(OUT, f"{t}.quant"), "wb").write(ref)
        for t in READ:
            if t == "F16":
                blocks = rng.standard_normal(256).astype(np.float16).tobytes()
            elif t == "BF16":
                blocks = quants.quantize(rng.standard_normal(256).astype(np.float32), T.BF16).tobytes()
            else:
                blocks = random_blocks(rng, t)
            raw = np.frombuffer(blocks, dtype=np.uint8)
            py = quants.dequantize(raw.copy(), T[t]).astype(np.float32).reshape(-1)
            assert py.size == 256, t
            if t in C_TYPES:
                ref = np.frombuffer(c_ref(exe, "d", t, 256, blocks), dtype=np.float32)
                assert py.tobytes() == ref.tobytes(), f"{t}: gguf-py and ggml-quants.c dequantize differently"
            open(os.path.join(OUT, f"{t}.blocks"), "wb").write(blocks)
            open(os.path.join(OUT, f"{t}.dequant"), "wb").write(py.tobytes())
    print(f"wrote {OUT}")


main()
