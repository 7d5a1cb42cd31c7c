import type { Backend } from "../../../kernels/backend.js";
import type { StepBatch } from "../../batch.js";
import { copyFloats } from "../../copy.js";
import type { KVCache } from "../../kv-cache.js";
import { attend, storeKV } from "../../layers/attention.js";
import { readMatrixRow } from "../../matrix.js";
import type { GPT2Config } from "./config.js";
import type { RunState } from "./run-state.js";
import type { GPT2Weights } from "./weights.js";

/**
 * The GPT-2 forward pass (Radford et al. 2019; nanoGPT's model.py), over a StepBatch of N
 * tokens from one or more sequences. Shapes: N tokens, C = n_embd, nh heads of hs = C / nh.
 * Writes the logits of the batch's logit rows into state.logits (R, V).
 */
export function forward(config: GPT2Config, w: GPT2Weights, backend: Backend, state: RunState, cache: KVCache, batch: StepBatch): void {
  const { nEmbd: C, layerNormEpsilon: eps } = config;
  const N = batch.numTokens;
  const k = backend;
  const { x, xNorm, qkv, q, attnOut, sublayerOut, hidden } = state;

  embed(config, w, x, batch); // x = wte[tokens] + wpe[positions]           # (N, C)
  for (let l = 0; l < config.nLayer; l++) {
    const b = w.blocks[l];
    // x = x + attn(ln_1(x))
    k.layerNorm(xNorm, x, b.ln1.weight, b.ln1.bias, N, C, eps); //           # (N, C)
    k.matmul(qkv, xNorm, b.attnQKV, b.attnQKVBias, N); //                    # (N, 3C)
    splitQ(q, qkv, N, C); // q ← qkv[:, :C]                                  # (N, nh, hs)
    storeKV(cache, l, batch, qkv, C, qkv, 2 * C, 3 * C); // cache ← k, v     # (N, nh, hs)
    attend(k, attnOut, q, cache, l, batch, config.heads, state.attention); // softmax(q kᵀ/√hs) v # (N, nh, hs)
    k.matmul(sublayerOut, attnOut, b.attnProj, b.attnProjBias, N); //        # (N, C)
    k.addInPlace(x, sublayerOut, N * C);
    // x = x + mlp(ln_2(x))
    k.layerNorm(xNorm, x, b.ln2.weight, b.ln2.bias, N, C, eps); //           # (N, C)
    k.matmul(hidden, xNorm, b.mlpFc, b.mlpFcBias, N); //                     # (N, 4C)
    k.gelu(hidden, N * b.mlpFc.rows);
    k.matmul(sublayerOut, hidden, b.mlpProj, b.mlpProjBias, N); //           # (N, C)
    k.addInPlace(x, sublayerOut, N * C);
  }
  // Only the rows that need next-token logits go through ln_f and the LM head.
  const R = batch.numLogitRows;
  for (let i = 0; i < R; i++) copyFloats(state.lastHidden, i * C, x, batch.logitRows[i] * C, C);
  k.layerNorm(state.lastHidden, state.lastHidden, w.lnF.weight, w.lnF.bias, R, C, eps); // # (R, C)
  k.matmul(state.logits, state.lastHidden, w.lmHead, null, R); //                        # (R, V)
}

function embed(config: GPT2Config, w: GPT2Weights, x: Float32Array, batch: StepBatch): void {
  const C = config.nEmbd;
  for (let i = 0; i < batch.numTokens; i++) {
    readMatrixRow(x, i * C, w.wte, batch.tokens[i]);
    const pos = batch.positions[i] * C;
    for (let c = 0; c < C; c++) x[i * C + c] += w.wpe[pos + c];
  }
}

/** q (N, C) = the first C columns of qkv (N, 3C): attention reads queries as contiguous rows. */
function splitQ(q: Float32Array, qkv: Float32Array, N: number, C: number): void {
  for (let i = 0; i < N; i++) copyFloats(q, i * C, qkv, i * 3 * C, C);
}
