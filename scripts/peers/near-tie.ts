import type { LLM } from "../../src/engine/llm.js";
import type { GGUFOutType } from "../../src/model/layers/gguf-out.js";
import type { WeightDType } from "../../src/model/matrix.js";
import type { SimdLevel } from "../../src/kernels/index.js";

/**
 * Largest logit gap, in our engine, between our best token and llama.cpp's token at a step where
 * the two continuations split. Two correct engines can only disagree where the top two logits
 * are closer than their rounding differences: f16 activations in ggml's f16 matmuls, int8 ones
 * in its quantized matmuls: Q8_0 (a scale per 32) for Q8_0/Q4_0/Q5_0 weights, Q8_K (a scale per
 * 256, coarser) for the K-quants. On a K-quant file's F32 twin (foreign-gguf/f32-twin.ts) the two
 * engines agree token for token, so what remains is that activation rounding.
 */
export const NEAR_TIE: Record<GGUFOutType, number> = { f32: 1e-3, f16: 5e-3, q8_0: 5e-2, q4_0: 5e-2, q4_k: 0.1, q6_k: 0.1, q4_k_m: 0.1, q5_k_m: 0.1 };

/**
 * NEAR_TIE for the build the engine runs. The relaxed build rounds x to 7 bits (±63) for its q8
 * dot products where ggml rounds it to 8 (assembly/q8.ts): twice the step, so twice the
 * tolerance for the files a check loads as q8.
 */
export function nearTie(dtype: GGUFOutType, simd: SimdLevel): number {
  const asQ8 = engineDType(dtype) === "q8";
  return simd === "relaxed" && asQ8 ? 2 * NEAR_TIE[dtype] : NEAR_TIE[dtype];
}

/**
 * The same for gguf-py's files, which mix the K-quants this engine keeps as stored (x rounded per
 * 256 as llama.cpp does) with Q5_K and Q4_1 it requantizes to q8 (weights rounded again, x per
 * 32): both engines' roundings of the activations and a second rounding of those weights. On
 * foreign qwen2.gguf the first prompt splits at a step whose margin with exact weights and
 * activations is 0.060, which those roundings move to 0.056–0.10 depending on the kernels.
 */
export const NEAR_TIE_MIXED = 0.15;

/**
 * The engine storage a check loads each file type into: Q8_0 as q8 (its blocks are q8 storage
 * unrounded), Q4_0 and the K-quants as the file stores them (undefined, no --dtype: Q4_0 as q4,
 * Q4_K as q4k and Q6_K as q6k, their exact weights, what users get), floats as f32.
 */
export function engineDType(dtype: GGUFOutType): WeightDType | undefined {
  if (dtype === "q8_0") return "q8";
  return dtype === "q4_0" || dtype === "q4_k" || dtype === "q6_k" ? undefined : "f32";
}

/**
 * How far below this engine's best logit the tokens another engine chose were, along that
 * engine's own continuation: a divergence smaller than the two engines' rounding is a near-tie.
 */
export function maxGapAlong(ours: LLM, ids: number[], theirTokens: number[]): number {
  let gap = 0;
  ours.forEachPositionLogits([...ids, ...theirTokens.slice(0, -1)], (pos, logits) => {
    const step = pos - (ids.length - 1);
    if (step < 0) return;
    let best = -Infinity;
    for (let i = 0; i < logits.length; i++) best = Math.max(best, logits[i]);
    gap = Math.max(gap, best - logits[theirTokens[step]]);
  });
  return gap;
}
