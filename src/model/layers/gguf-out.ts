import { GGMLType, LLAMA_FILE_TYPE, type WritableGGMLType } from "../../io/gguf.js";
import { MIX_FILE_TYPE, MIXES, fallbackType, mixType, type Mix, type MixModel, type MixTensor } from "../../io/gguf-mix.js";

/** The `--dtype` choices of `convert --to gguf`: one type for every weight matrix, or a llama-quantize mix. */
export type PureOutType = "f32" | "f16" | "q8_0" | "q4_0" | "q4_k" | "q6_k";
export type GGUFOutType = PureOutType | Mix;
const PURE_OUT_TYPES: readonly PureOutType[] = ["f32", "f16", "q8_0", "q4_0", "q4_k", "q6_k"];
export const GGUF_OUT_TYPES: readonly GGUFOutType[] = [...PURE_OUT_TYPES, ...MIXES];

export const OUT_TYPE: Record<PureOutType, WritableGGMLType> = { f32: GGMLType.F32, f16: GGMLType.F16, q8_0: GGMLType.Q8_0, q4_0: GGMLType.Q4_0, q4_k: GGMLType.Q4_K, q6_k: GGMLType.Q6_K };
/** Bytes of encoded tensor data an exporter hands the writer at a time. */
export const CHUNK_BYTES = 4 << 20;
/** general.quantization_version: the block layouts llama.cpp reads today. */
export const GGML_QUANT_VERSION = 2;

function isMix(outType: GGUFOutType): outType is Mix {
  return MIXES.some((m) => m === outType);
}

/** How a --dtype writes a model: general.file_type and the type of each weight matrix. */
export interface OutTypes {
  readonly fileType: number;
  readonly matrixType: (t: MixTensor) => WritableGGMLType;
}

/**
 * A pure type puts every matrix in it, falling back as llama.cpp's quantizer does where rows are
 * not whole blocks (fallbackType); a mix chooses per tensor (gguf-mix.ts). position_embd is never
 * quantized.
 */
export function outTypes(outType: GGUFOutType, model: MixModel): OutTypes {
  if (isMix(outType)) return { fileType: MIX_FILE_TYPE[outType], matrixType: (t) => mixType(outType, model, t) };
  const target = OUT_TYPE[outType];
  return { fileType: LLAMA_FILE_TYPE[target], matrixType: (t) => (t.role === "position_embd" ? GGMLType.F32 : fallbackType(target, t.cols)) };
}
