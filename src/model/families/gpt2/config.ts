import { UserError } from "../../../errors.js";
import type { AttentionHeads } from "../../layers/attention.js";
import type { ModelShape } from "../../shape.js";

/** The hyperparameters of a GPT-2 model, immutable once loaded (llama2.c's `Config`). */
export interface GPT2Config {
  readonly nLayer: number;
  readonly nHead: number;
  readonly nEmbd: number; // C
  readonly nInner: number; // MLP hidden width, 4 * C unless the config says otherwise
  readonly nPositions: number; // maximum context
  readonly vocabSize: number;
  readonly layerNormEpsilon: number;
  readonly tieWordEmbeddings: boolean;
  readonly bosTokenId: number | null;
  readonly eosTokenId: number | null;
  readonly heads: AttentionHeads; // nHead heads of C / nHead, no grouping
}

export function gpt2Shape(c: GPT2Config): ModelShape {
  return { nLayer: c.nLayer, nHead: c.nHead, nKVHead: c.nHead, headDim: c.heads.headDim, vocabSize: c.vocabSize, contextLength: c.nPositions };
}

/** The fields of a GPT2Config that follow from the others. */
export function gpt2Heads(nEmbd: number, nHead: number): AttentionHeads {
  return { nHead, nKVHead: nHead, headDim: nEmbd / nHead };
}

const SUPPORTED_ACTIVATIONS = ["gelu_new", "gelu_pytorch_tanh"];

/** Validates a parsed config.json (Hugging Face GPT2Config fields). `source` names it in errors. */
export function parseGPT2Config(c: Readonly<Record<string, unknown>>, source: string): GPT2Config {
  const int = (key: string, fallback?: number): number => {
    const v = c[key] ?? fallback;
    if (typeof v !== "number" || !Number.isInteger(v) || v <= 0) throw new UserError(`${source}: ${key} must be a positive integer, got ${JSON.stringify(c[key])}`);
    return v;
  };
  const optionalId = (key: string): number | null => {
    const v = c[key];
    return typeof v === "number" && Number.isInteger(v) && v >= 0 ? v : null;
  };
  const activation = c.activation_function ?? "gelu_new";
  if (typeof activation !== "string" || !SUPPORTED_ACTIVATIONS.includes(activation)) {
    throw new UserError(`${source}: unsupported activation_function ${JSON.stringify(activation)} (supported: ${SUPPORTED_ACTIVATIONS.join(", ")})`);
  }
  const nEmbd = int("n_embd");
  const nHead = int("n_head");
  if (nEmbd % nHead !== 0) throw new UserError(`${source}: n_embd ${nEmbd} is not divisible by n_head ${nHead}`);
  const eps = c.layer_norm_epsilon ?? 1e-5;
  if (typeof eps !== "number" || !(eps > 0)) throw new UserError(`${source}: layer_norm_epsilon must be a positive number`);
  const nInner = c.n_inner === null || c.n_inner === undefined ? 4 * nEmbd : int("n_inner");
  for (const flag of ["scale_attn_by_inverse_layer_idx", "add_cross_attention"]) {
    if (c[flag] === true) throw new UserError(`${source}: ${flag}=true is not supported`);
  }
  if (c.scale_attn_weights === false) throw new UserError(`${source}: scale_attn_weights=false is not supported`);
  return {
    nLayer: int("n_layer"),
    nHead,
    nEmbd,
    nInner,
    nPositions: int("n_positions"),
    vocabSize: int("vocab_size"),
    layerNormEpsilon: eps,
    tieWordEmbeddings: c.tie_word_embeddings !== false,
    bosTokenId: optionalId("bos_token_id"),
    eosTokenId: optionalId("eos_token_id"),
    heads: gpt2Heads(nEmbd, nHead),
  };
}
