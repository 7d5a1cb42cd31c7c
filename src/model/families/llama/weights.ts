import type { Matrix, WeightArray } from "../../../kernels/backend.js";
import type { RopeTables } from "../../layers/rope.js";
import { matrixArrays, matrixSize } from "../../matrix.js";

/**
 * One decoder block. Matrices are (out_features, in_features); q, k, v are stacked into one
 * projection and gate, up into another at load. Shapes: C hidden, I intermediate, nh query heads
 * and nkv key/value heads of hs.
 */
export interface LlamaBlockWeights {
  readonly attnNorm: Float32Array; // (C,) input_layernorm
  readonly qkv: Matrix; // ((nh + 2·nkv)·hs, C): rows of q, then k, then v
  readonly qkvBias: Float32Array | null; // ((nh + 2·nkv)·hs,) Qwen2, or attention_bias
  readonly qNorm: Float32Array | null; // (hs,) Qwen3
  readonly kNorm: Float32Array | null; // (hs,) Qwen3
  readonly o: Matrix; // (C, nh·hs)
  readonly oBias: Float32Array | null; // (C,)
  readonly mlpNorm: Float32Array; // (C,) post_attention_layernorm
  readonly gateUp: Matrix; // (2I, C): rows of gate, then up
  readonly gateUpBias: Float32Array | null; // (2I,) mlp_bias
  readonly down: Matrix; // (C, I)
  readonly downBias: Float32Array | null; // (C,)
}

/** All parameters of a Llama-style model, plus the RoPE tables made once from its config. */
export interface LlamaWeights {
  readonly embed: Matrix; // (V, C) embed_tokens
  readonly blocks: readonly LlamaBlockWeights[];
  readonly norm: Float32Array; // (C,) the final RMSNorm
  readonly lmHead: Matrix; // (V, C); the same object as embed when tied
  readonly rope: RopeTables; // (P, hs/2) cos and sin
}

export function decodeWeightArrays(w: LlamaWeights): WeightArray[] {
  return [...w.blocks.flatMap((b) => [b.qkv, b.o, b.gateUp, b.down]), w.lmHead].flatMap(matrixArrays);
}

export function countParameters(w: LlamaWeights): number {
  const len = (v: Float32Array | null) => v?.length ?? 0;
  let n = matrixSize(w.embed) + w.norm.length + (w.lmHead !== w.embed ? matrixSize(w.lmHead) : 0);
  for (const b of w.blocks) {
    n += b.attnNorm.length + b.mlpNorm.length + len(b.qNorm) + len(b.kNorm);
    n += matrixSize(b.qkv) + len(b.qkvBias) + matrixSize(b.o) + len(b.oBias);
    n += matrixSize(b.gateUp) + len(b.gateUpBias) + matrixSize(b.down) + len(b.downBias);
  }
  return n;
}
