import type { Backend } from "../kernels/backend.js";
import type { StepBatch } from "./batch.js";
import { headDim, type GPT2Config } from "./config.js";
import { copyFloats } from "./copy.js";
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
    attend(k, state, cache, l, batch, nh, hs); // softmax(q kᵀ/√hs) v per sequence # (N, nh, hs)
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

/**
 * Causal self-attention of each sequence of the batch over its cache: a prompt chunk on its own,
 * and a run of single-token chunks (the decode steps of several sequences) in one call, so that
 * the backend's threads can share out all of their positions at once.
 */
function attend(k: Backend, state: RunState, cache: KVCache, layer: number, batch: StepBatch, nh: number, hs: number): void {
  const { attnOut, q } = state;
  for (let c = 0, row = 0; c < batch.numChunks; ) {
    const t = batch.chunkLength[c];
    if (t > 1) {
      k.attention(attnOut, q, row, cache.view(layer, batch.chunkSlot[c]), batch.chunkStart[c], t, nh, nh, hs, state.scores); // # (t, nh, hs)
      row += t;
      c++;
      continue;
    }
    let n = 0;
    for (; c < batch.numChunks && batch.chunkLength[c] === 1; c++, n++) {
      state.decodeKVs[n] = cache.view(layer, batch.chunkSlot[c]);
      state.decodePositions[n] = batch.chunkStart[c];
    }
    k.attentionDecode(attnOut, q, row, state.decodeKVs, state.decodePositions, n, nh, nh, hs); // # (n, nh, hs)
    row += n;
  }
}

function embed(config: GPT2Config, w: GPT2Weights, x: Float32Array, batch: StepBatch): void {
  const C = config.nEmbd;
  for (let i = 0; i < batch.numTokens; i++) {
    readMatrixRow(x, i * C, w.wte, batch.tokens[i]);
    const pos = batch.positions[i] * C;
    for (let c = 0; c < C; c++) x[i * C + c] += w.wpe[pos + c];
  }
}

/** Splits each row of qkv (N, 3C) into q (N, C) and writes k and v into the cache. */
function storeKV(cache: KVCache, layer: number, batch: StepBatch, qkv: Float32Array, q: Float32Array, C: number): void {
  for (let i = 0; i < batch.numTokens; i++) copyFloats(q, i * C, qkv, i * 3 * C, C);
  for (let c = 0, row = 0; c < batch.numChunks; row += batch.chunkLength[c], c++) {
    const at = row * 3 * C; // the chunk's first row of qkv: [q | k | v]
    cache.update(layer, batch.chunkSlot[c], batch.chunkStart[c], qkv, at + C, at + 2 * C, 3 * C, batch.chunkLength[c]);
  }
}
