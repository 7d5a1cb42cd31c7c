import type { Backend } from "../../../kernels/backend.js";
import type { StepBatch } from "../../batch.js";
import { copyFloats } from "../../copy.js";
import type { KVCache } from "../../kv-cache.js";
import { attend, storeKV } from "../../layers/attention.js";
import { readMatrixRow } from "../../matrix.js";
import type { LlamaConfig } from "./config.js";
import type { LlamaRunState } from "./run-state.js";
import type { LlamaWeights } from "./weights.js";

/**
 * The Llama forward pass (Touvron et al. 2023; HF modeling_llama.py), which Qwen2 (q, k, v
 * biases) and Qwen3 (RMSNorm of each q and k head) follow too, over a StepBatch of N tokens.
 * Shapes: C hidden, I intermediate, nh query heads and nkv key/value heads of hs.
 * Writes the logits of the batch's logit rows into state.logits (R, V).
 */
export function forward(c: LlamaConfig, w: LlamaWeights, backend: Backend, s: LlamaRunState, cache: KVCache, batch: StepBatch): void {
  const { hidden: C, intermediate: I, rmsNormEps: eps } = c;
  const { nHead: nh, nKVHead: nkv, headDim: hs } = c.heads;
  const N = batch.numTokens;
  const k = backend;
  const { cos, sin } = w.rope;

  for (let i = 0; i < N; i++) readMatrixRow(s.x, i * C, w.embed, batch.tokens[i]); // x = embed[tokens] # (N, C)
  for (let l = 0; l < c.nLayer; l++) {
    const b = w.blocks[l];
    // x = x + attn(rms_norm(x))
    k.rmsNorm(s.xNorm, s.x, b.attnNorm, N, C, eps); //                        # (N, C)
    k.matmul(s.qkv, s.xNorm, b.qkv, b.qkvBias, N); //                         # (N, (nh + 2·nkv)·hs)
    splitQKV(s, N, nh * hs, nkv * hs); // q, k, v                             # (N, nh, hs), (N, nkv, hs) ×2
    if (b.qNorm !== null && b.kNorm !== null) {
      k.rmsNorm(s.q, s.q, b.qNorm, N * nh, hs, eps); // per head (Qwen3)      # (N, nh, hs)
      k.rmsNorm(s.k, s.k, b.kNorm, N * nkv, hs, eps); //                      # (N, nkv, hs)
    }
    k.rope(s.q, N, nh, hs, batch.positions, cos, sin); // rotate by position  # (N, nh, hs)
    k.rope(s.k, N, nkv, hs, batch.positions, cos, sin); //                    # (N, nkv, hs)
    storeKV(cache, l, batch, s.k, 0, s.v, 0, nkv * hs); // cache ← k, v
    attend(k, s.attnOut, s.q, cache, l, batch, c.heads, s.attention); // softmax(q kᵀ/√hs) v # (N, nh, hs)
    k.matmul(s.sublayerOut, s.attnOut, b.o, b.oBias, N); //                   # (N, C)
    k.addInPlace(s.x, s.sublayerOut, N * C);
    // x = x + down(silu(gate(x')) · up(x')), x' = rms_norm(x)
    k.rmsNorm(s.xNorm, s.x, b.mlpNorm, N, C, eps); //                         # (N, C)
    k.matmul(s.gateUp, s.xNorm, b.gateUp, b.gateUpBias, N); //                # (N, 2I)
    k.siluMul(s.hidden, s.gateUp, N, I); //                                   # (N, I)
    k.matmul(s.sublayerOut, s.hidden, b.down, b.downBias, N); //              # (N, C)
    k.addInPlace(s.x, s.sublayerOut, N * C);
  }
  // Only the rows that need next-token logits go through the final norm and the LM head.
  const R = batch.numLogitRows;
  for (let i = 0; i < R; i++) copyFloats(s.lastHidden, i * C, s.x, batch.logitRows[i] * C, C);
  k.rmsNorm(s.lastHidden, s.lastHidden, w.norm, R, C, eps); //                # (R, C)
  k.matmul(s.logits, s.lastHidden, w.lmHead, null, R); //                     # (R, V)
}

/** Each row of qkv (N, qw + 2·kvw) into q (N, qw), k and v (N, kvw): RoPE and the cache read contiguous heads. */
function splitQKV(s: LlamaRunState, N: number, qw: number, kvw: number): void {
  const row = qw + 2 * kvw;
  for (let i = 0; i < N; i++) {
    copyFloats(s.q, i * qw, s.qkv, i * row, qw);
    copyFloats(s.k, i * kvw, s.qkv, i * row + qw, kvw);
    copyFloats(s.v, i * kvw, s.qkv, i * row + qw + kvw, kvw);
  }
}
