import type { Backend } from "../kernels/backend.js";
import type { StepBatch } from "./batch.js";
import { headDim, type GPT2Config } from "./config.js";
import type { KVCache } from "./kv-cache.js";
import type { RunState } from "./run-state.js";
import { readMatrixRow, type GPT2Weights } from "./weights.js";

/**
 * The GPT-2 forward pass (Radford et al. 2019; nanoGPT's model.py), over a StepBatch of N
 * tokens from one or more sequences. Shapes: N tokens, C = n_embd, nh heads of hs = C / nh.
 * Writes the logits of the batch's logit rows into state.logits (R, V).
 */
export function forward(config: GPT2Config, w: GPT2Weights, backend: Backend, state: RunState, cache: KVCache, batch: StepBatch): void {
  const { nEmbd: C, nHead: nh, layerNormEpsilon: eps } = config;
  const hs = headDim(config);
  const N = batch.numTokens;
  const k = backend;
  const { x, xNorm, qkv, q, attnOut, sublayerOut, hidden } = state;

  embed(config, w, x, batch); // x = wte[tokens] + wpe[positions]           # (N, C)
  for (let l = 0; l < config.nLayer; l++) {
    const b = w.blocks[l];
    // x = x + attn(ln_1(x))
    k.layerNorm(xNorm, x, b.ln1.weight, b.ln1.bias, N, C, eps); //           # (N, C)
    k.matmul(qkv, xNorm, b.attnQKV, b.attnQKVBias, N); //                    # (N, 3C)
    storeKV(cache, l, batch, qkv, q, C); // q ← qkv[:, :C]; cache ← k, v     # (N, nh, hs)
    for (let c = 0, row = 0; c < batch.numChunks; row += batch.chunkLength[c], c++) {
      const t = batch.chunkLength[c];
      const kv = cache.view(l, batch.chunkSlot[c]);
      k.attention(attnOut.subarray(row * C, (row + t) * C), q.subarray(row * C, (row + t) * C), kv, batch.chunkStart[c], t, nh, hs, state.scores); // # (t, nh, hs)
    }
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
  for (let i = 0; i < R; i++) {
    const row = batch.logitRows[i];
    state.lastHidden.set(x.subarray(row * C, (row + 1) * C), i * C);
  }
  k.layerNorm(state.lastHidden, state.lastHidden, w.lnF.weight, w.lnF.bias, R, C, eps); // # (R, C)
  k.matmul(state.logits, state.lastHidden, w.lmHead, null, R); //                        # (R, V)
}

function embed(config: GPT2Config, w: GPT2Weights, x: Float32Array, batch: StepBatch): void {
  const C = config.nEmbd;
  for (let i = 0; i < batch.numTokens; i++) {
    const row = x.subarray(i * C, (i + 1) * C);
    readMatrixRow(row, w.wte, batch.tokens[i]);
    const pos = batch.positions[i] * C;
    for (let c = 0; c < C; c++) row[c] += w.wpe[pos + c];
  }
}

/** Splits each row of qkv (N, 3C) into q (N, C) and writes k and v into the cache. */
function storeKV(cache: KVCache, layer: number, batch: StepBatch, qkv: Float32Array, q: Float32Array, C: number): void {
  for (let i = 0; i < batch.numTokens; i++) q.set(qkv.subarray(i * 3 * C, i * 3 * C + C), i * C);
  for (let c = 0, row = 0; c < batch.numChunks; row += batch.chunkLength[c], c++) {
    const slot = batch.chunkSlot[c];
    const pos = batch.chunkStart[c];
    for (let i = 0; i < batch.chunkLength[c]; i++) {
      const base = (row + i) * 3 * C;
      cache.update(layer, slot, pos + i, qkv.subarray(base + C, base + 2 * C), qkv.subarray(base + 2 * C, base + 3 * C), 1);
    }
  }
}
