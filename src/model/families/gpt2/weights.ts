import type { Matrix, WeightArray } from "../../../kernels/backend.js";
import { matrixArrays, matrixSize } from "../../matrix.js";

export interface LayerNormWeights {
  readonly weight: Float32Array; // (C,)
  readonly bias: Float32Array; // (C,)
}

/** One transformer block. Matrices are (out_features, in_features), converted at load. */
export interface BlockWeights {
  readonly ln1: LayerNormWeights;
  readonly attnQKV: Matrix; // (3C, C): rows [0, C) make q, [C, 2C) k, [2C, 3C) v
  readonly attnQKVBias: Float32Array; // (3C,)
  readonly attnProj: Matrix; // (C, C)
  readonly attnProjBias: Float32Array; // (C,)
  readonly ln2: LayerNormWeights;
  readonly mlpFc: Matrix; // (4C, C)
  readonly mlpFcBias: Float32Array; // (4C,)
  readonly mlpProj: Matrix; // (C, 4C)
  readonly mlpProjBias: Float32Array; // (C,)
}

/** All parameters of a GPT-2 model (llama2.c's `TransformerWeights`). */
export interface GPT2Weights {
  readonly wte: Matrix; // (V, C) token embeddings
  readonly wpe: Float32Array; // (P, C) position embeddings
  readonly blocks: readonly BlockWeights[];
  readonly lnF: LayerNormWeights;
  readonly lmHead: Matrix; // (V, C); the same object as wte when the head is tied
}

/**
 * The arrays a decode step reads in full: each block's four matrices and lm_head. The rest (one
 * embedding row per token, biases, norms) is under 1% of the bytes for GPT-2 shapes; the caches
 * are not weights. Reading these once is the least time a decode step can take.
 */
export function decodeWeightArrays(w: GPT2Weights): WeightArray[] {
  const matrices = [...w.blocks.flatMap((b) => [b.attnQKV, b.attnProj, b.mlpFc, b.mlpProj]), w.lmHead];
  return matrices.flatMap(matrixArrays);
}

export function countParameters(w: GPT2Weights): number {
  const size = matrixSize;
  let n = size(w.wte) + w.wpe.length + w.lnF.weight.length * 2;
  if (w.lmHead !== w.wte) n += size(w.lmHead);
  for (const b of w.blocks) {
    n += b.ln1.weight.length * 2 + b.ln2.weight.length * 2;
    n += size(b.attnQKV) + b.attnQKVBias.length + size(b.attnProj) + b.attnProjBias.length;
    n += size(b.mlpFc) + b.mlpFcBias.length + size(b.mlpProj) + b.mlpProjBias.length;
  }
  return n;
}
