import { UserError } from "../../../errors.js";
import type { AttentionHeads } from "../../layers/attention.js";
import { parseRopeConfig, type RopeConfig } from "../../layers/rope.js";
import { eosTokenIds } from "../../eos.js";
import { MAX_CONTEXT_LENGTH, type ModelShape } from "../../shape.js";

/**
 * The hyperparameters of a Llama-style decoder (Llama 2/3, TinyLlama, SmolLM, Mistral, Qwen2,
 * Qwen3), immutable once loaded. The variants differ only in which biases and norms exist.
 */
export interface LlamaConfig {
  readonly nLayer: number;
  readonly hidden: number; // C, hidden_size
  readonly intermediate: number; // I, the SwiGLU MLP's width
  readonly heads: AttentionHeads; // nHead query heads sharing nKVHead key/value heads of headDim
  readonly vocabSize: number;
  readonly contextLength: number; // max_position_embeddings
  readonly rmsNormEps: number;
  readonly rope: RopeConfig;
  readonly qkvBias: boolean; // Qwen2 always; Llama with attention_bias
  readonly outputBias: boolean; // o_proj, with attention_bias (never Qwen2)
  readonly mlpBias: boolean; // gate, up and down, with mlp_bias
  readonly qkNorm: boolean; // Qwen3: RMSNorm over each head of q and k before RoPE
  readonly tieWordEmbeddings: boolean;
  readonly eosTokenIds: readonly number[];
}

/** What sets a variant apart when its config.json does not say. */
export interface LlamaVariant {
  readonly name: string;
  readonly qkvBias: "attention_bias" | "always";
  readonly qkNorm: boolean;
}

export function llamaShape(c: LlamaConfig): ModelShape {
  const { nHead, nKVHead, headDim } = c.heads;
  return { nLayer: c.nLayer, nHead, nKVHead, headDim, vocabSize: c.vocabSize, contextLength: c.contextLength };
}

/** Validates a parsed config.json of the Llama family. `source` names it in errors. */
export function parseLlamaConfig(c: Readonly<Record<string, unknown>>, source: string, variant: LlamaVariant): LlamaConfig {
  const int = (key: string, fallback?: number): number => {
    const v = c[key] ?? fallback;
    if (typeof v !== "number" || !Number.isInteger(v) || v <= 0) throw new UserError(`${source}: ${key} must be a positive integer, got ${JSON.stringify(c[key])}`);
    return v;
  };
  const flag = (key: string): boolean => {
    const v = c[key] ?? false;
    if (typeof v !== "boolean") throw new UserError(`${source}: ${key} must be true or false, got ${JSON.stringify(v)}`);
    return v;
  };
  const activation = c.hidden_act ?? "silu";
  if (activation !== "silu") throw new UserError(`${source}: unsupported hidden_act ${JSON.stringify(activation)} (supported: silu)`);
  const hidden = int("hidden_size");
  const nHead = int("num_attention_heads");
  const nKVHead = int("num_key_value_heads", nHead);
  if (nHead % nKVHead !== 0) throw new UserError(`${source}: num_attention_heads ${nHead} is not a multiple of num_key_value_heads ${nKVHead}`);
  if (c.head_dim === undefined || c.head_dim === null) {
    if (hidden % nHead !== 0) throw new UserError(`${source}: hidden_size ${hidden} is not divisible by num_attention_heads ${nHead} (and no head_dim is given)`);
  }
  const headDim = c.head_dim === undefined || c.head_dim === null ? hidden / nHead : int("head_dim");
  if (headDim % 2 !== 0) throw new UserError(`${source}: head_dim ${headDim} must be even for RoPE`);
  const eps = c.rms_norm_eps ?? 1e-6;
  if (typeof eps !== "number" || !(eps > 0)) throw new UserError(`${source}: rms_norm_eps must be a positive number, got ${JSON.stringify(eps)}`);
  const attentionBias = flag("attention_bias");
  const contextLength = int("max_position_embeddings");
  if (contextLength > MAX_CONTEXT_LENGTH) throw new UserError(`${source}: max_position_embeddings ${contextLength} is more than the ${MAX_CONTEXT_LENGTH} positions this engine supports`);
  return {
    nLayer: int("num_hidden_layers"),
    hidden,
    intermediate: int("intermediate_size"),
    heads: { nHead, nKVHead, headDim },
    vocabSize: int("vocab_size"),
    contextLength,
    rmsNormEps: eps,
    rope: parseRopeConfig(c, source),
    qkvBias: variant.qkvBias === "always" || attentionBias,
    outputBias: variant.qkvBias === "attention_bias" && attentionBias,
    mlpBias: flag("mlp_bias"),
    qkNorm: variant.qkNorm,
    tieWordEmbeddings: c.tie_word_embeddings === true,
    eosTokenIds: eosTokenIds(c.eos_token_id, source),
  };
}
