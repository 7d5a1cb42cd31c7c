import { GGMLType, type WritableGGMLType } from "./gguf.js";
import { QK_K } from "./gguf-kquants.js";

/**
 * Which ggml type each tensor of a GGUF file is written in. A pure type puts every matrix in one
 * type (llama-quantize --pure); a mix chooses per tensor as llama-quantize's presets do
 * (llama.cpp src/llama-quant.cpp: llama_tensor_get_type_impl, then tensor_type_fallback), here
 * for dense llama, qwen2, qwen3 and gpt2 models (no experts, so none of its n_expert rules apply):
 *
 *   Q4_K_M  the head (output, or token_embd when it is also the head): Q6_K
 *           attn_v (gpt2: attn_qkv) and ffn_down: Q6_K on the layers useMoreBits picks, else Q4_K
 *           a 70B (llama with 80 layers and grouped keys, qwen2 with 80 layers): attn_v Q4_K -> Q5_K
 *           every other matrix Q4_K
 *   Q5_K_M  the same with Q5_K where Q4_K_M has Q4_K
 *
 * Then, for every quantized type, rows that are not whole blocks fall back (fallbackType); a
 * head whose rows are not whole 256s is Q8_0 rather than Q6_K. 1-D tensors and position_embd
 * are never quantized: F32.
 */

/** A tensor's role in the model: llama-quant.cpp's tensor_category, and what it never quantizes. */
export type TensorRole = "token_embd" | "position_embd" | "output" | "attn_q" | "attn_k" | "attn_v" | "attn_qkv" | "attn_output" | "ffn_gate" | "ffn_up" | "ffn_down";

/** What a mix needs to know of the model. */
export interface MixModel {
  /** general.architecture: llama, qwen2, qwen3 or gpt2. */
  readonly arch: string;
  readonly nLayer: number;
  readonly nHead: number;
  readonly nKVHead: number;
  /** No output.weight: token_embd is the head too. */
  readonly tiedOutput: boolean;
}

/** One matrix to place: its role, its layer (blk.N; 0 outside the blocks) and its row length. */
export interface MixTensor {
  readonly role: TensorRole;
  readonly layer: number;
  readonly cols: number;
}

export type Mix = "q4_k_m" | "q5_k_m";
export const MIXES: readonly Mix[] = ["q4_k_m", "q5_k_m"];
/** general.file_type (llama_ftype) of each mix: LLAMA_FTYPE_MOSTLY_Q4_K_M, LLAMA_FTYPE_MOSTLY_Q5_K_M. */
export const MIX_FILE_TYPE: Record<Mix, number> = { q4_k_m: 15, q5_k_m: 17 };
/** llama_ftype_get_default_type: the type of the matrices no rule picks out. */
const MIX_BASE: Record<Mix, WritableGGMLType> = { q4_k_m: GGMLType.Q4_K, q5_k_m: GGMLType.Q5_K };

/** llama-quant.cpp's use_more_bits: the first and last eighth of the layers, and every third one between. */
export function useMoreBits(layer: number, nLayer: number): boolean {
  const eighth = Math.trunc(nLayer / 8);
  return layer < eighth || layer >= Math.trunc((7 * nLayer) / 8) || (layer - eighth) % 3 === 2;
}

/** llama.cpp's LLM_TYPE_70B (src/models/llama.cpp, qwen2.cpp), the one model size Q4_K_M treats apart. */
function is70B(m: MixModel): boolean {
  return m.nLayer === 80 && ((m.arch === "llama" && m.nHead !== m.nKVHead) || m.arch === "qwen2");
}

/** The type of one matrix under a mix. */
export function mixType(mix: Mix, model: MixModel, t: MixTensor): WritableGGMLType {
  if (t.role === "position_embd") return GGMLType.F32;
  return fallbackType(mixChoice(mix, model, t), t.cols);
}

function mixChoice(mix: Mix, model: MixModel, t: MixTensor): WritableGGMLType {
  const base = MIX_BASE[mix];
  const head = t.role === "output" || (t.role === "token_embd" && model.tiedOutput);
  if (head) return t.cols % QK_K === 0 ? GGMLType.Q6_K : GGMLType.Q8_0;
  // gpt2's fused qkv counts as attn_v: llama.cpp tests attn_v-like categories first.
  if (t.role === "attn_v" || t.role === "attn_qkv") {
    if (useMoreBits(t.layer, model.nLayer)) return GGMLType.Q6_K;
    return is70B(model) && base === GGMLType.Q4_K ? GGMLType.Q5_K : base;
  }
  if (t.role === "ffn_down" && useMoreBits(t.layer, model.nLayer)) return GGMLType.Q6_K;
  return base;
}

/**
 * llama-quant.cpp's tensor_type_fallback: a type whose blocks do not divide a row becomes the
 * 32-value type llama.cpp names for it (Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0), and F16 when
 * rows are not whole 32s either. F32 and F16 stay as they are.
 */
export function fallbackType(type: WritableGGMLType, cols: number): WritableGGMLType {
  if (type === GGMLType.F32 || type === GGMLType.F16) return type;
  let t = type;
  if (cols % QK_K !== 0) {
    if (t === GGMLType.Q4_K) t = GGMLType.Q5_0;
    else if (t === GGMLType.Q5_K) t = GGMLType.Q5_1;
    else if (t === GGMLType.Q6_K) t = GGMLType.Q8_0;
  }
  return cols % 32 === 0 ? t : GGMLType.F16;
}
