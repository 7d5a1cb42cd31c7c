import { GGMLType, type WritableGGMLType } from "../../io/gguf.js";
import { QK } from "../../io/gguf-quant.js";
import { QK_K } from "../../io/gguf-kquants.js";

/** The `--dtype` choices of `convert --to gguf`: the type of the weight matrices. */
export type GGUFOutType = "f32" | "f16" | "q8_0" | "q4_0" | "q4_k" | "q6_k";
export const GGUF_OUT_TYPES: readonly GGUFOutType[] = ["f32", "f16", "q8_0", "q4_0", "q4_k", "q6_k"];

export const OUT_TYPE: Record<GGUFOutType, WritableGGMLType> = { f32: GGMLType.F32, f16: GGMLType.F16, q8_0: GGMLType.Q8_0, q4_0: GGMLType.Q4_0, q4_k: GGMLType.Q4_K, q6_k: GGMLType.Q6_K };
/** Bytes of encoded tensor data an exporter hands the writer at a time. */
export const CHUNK_BYTES = 4 << 20;
/** general.quantization_version: the block layouts llama.cpp reads today. */
export const GGML_QUANT_VERSION = 2;

/**
 * The type a matrix with rows of `cols` values is written in when `target` is asked for, as
 * llama.cpp's quantizer falls back (llama-quant.cpp tensor_type_fallback): a K-quant needs rows
 * of whole 256-value super-blocks, else Q4_K becomes Q5_0 and Q6_K becomes Q8_0; a 32-value
 * block type needs rows of whole 32s, else F16.
 */
export function matrixOutType(target: WritableGGMLType, cols: number): WritableGGMLType {
  if (target === GGMLType.F32 || target === GGMLType.F16) return target;
  let type = target;
  if (cols % QK_K !== 0) {
    if (type === GGMLType.Q4_K) type = GGMLType.Q5_0;
    else if (type === GGMLType.Q6_K) type = GGMLType.Q8_0;
  }
  return cols % QK === 0 ? type : GGMLType.F16;
}
