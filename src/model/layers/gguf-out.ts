import { GGMLType, type SupportedGGMLType } from "../../io/gguf.js";

/** The `--dtype` choices of `convert --to gguf`: the type of the weight matrices. */
export type GGUFOutType = "f32" | "f16" | "q8_0" | "q4_0";
export const GGUF_OUT_TYPES: readonly GGUFOutType[] = ["f32", "f16", "q8_0", "q4_0"];

export const OUT_TYPE: Record<GGUFOutType, SupportedGGMLType> = { f32: GGMLType.F32, f16: GGMLType.F16, q8_0: GGMLType.Q8_0, q4_0: GGMLType.Q4_0 };
/** Bytes of encoded tensor data an exporter hands the writer at a time. */
export const CHUNK_BYTES = 4 << 20;
/** general.quantization_version: the Q8_0/Q4_0 block layouts llama.cpp reads today. */
export const GGML_QUANT_VERSION = 2;
