import type { Backend } from "../../../kernels/backend.js";
import { folderEosTokenIds } from "../../eos.js";
import type { ModelFamily } from "../../family.js";
import { describeRope } from "../../layers/rope.js";
import { matrixBytes, type WeightDType } from "../../matrix.js";
import { ggufStoredBytes } from "../../layers/gguf-tensors.js";
import type { Model, ModelSpec } from "../../model.js";
import { llamaShape, parseLlamaConfig, type LlamaConfig, type LlamaVariant } from "./config.js";
import { forward } from "./forward.js";
import { llamaConfigFromGGUF, loadLlamaGGUF } from "./load-gguf.js";
import { checkLlamaTensors, loadLlamaSafetensors } from "./load-safetensors.js";
import { LlamaRunState } from "./run-state.js";
import { countParameters, decodeWeightArrays, type LlamaWeights } from "./weights.js";

export interface LlamaFamilyNames {
  readonly hfModelTypes: readonly string[];
  readonly hfArchitectures: readonly string[];
  readonly ggufArchitectures: readonly string[];
}

/** A family that runs the Llama forward pass; Qwen2 and Qwen3 are variants of it. */
export function llamaStyleFamily(variant: LlamaVariant, names: LlamaFamilyNames): ModelFamily {
  const family: ModelFamily = {
    name: variant.name,
    ...names,
    fromFolder: (folder, json, file) => {
      const parsed = parseLlamaConfig(json, file, variant);
      const config = { ...parsed, eosTokenIds: folderEosTokenIds(folder, parsed.eosTokenIds) };
      return llamaSpec(variant.name, config, (backend, dtype) => loadLlamaSafetensors(folder, config, backend, dtype ?? "f32"), () => checkLlamaTensors(folder, config));
    },
    fromGGUF: (g) => {
      const config = llamaConfigFromGGUF(g, variant);
      // As stored: the file's tensors at their kinds, plus the RoPE tables.
      const stored = () => ggufStoredBytes(g) + 4 * config.contextLength * config.heads.headDim;
      return llamaSpec(variant.name, config, (backend, dtype) => loadLlamaGGUF(g, config, backend, dtype), () => {}, stored);
    },
  };
  LLAMA_STYLE_VARIANTS.set(family, variant);
  return family;
}

/** The variant behind each Llama-style family, for the code that writes them (convert). */
export const LLAMA_STYLE_VARIANTS = new Map<ModelFamily, LlamaVariant>();

/** Llama 2/3, TinyLlama, SmolLM/SmolLM2, Mistral-style checkpoints within their window. */
export const llamaFamily = llamaStyleFamily(
  { name: "llama", qkvBias: "attention_bias", qkNorm: false },
  { hfModelTypes: ["llama", "mistral"], hfArchitectures: ["LlamaForCausalLM", "MistralForCausalLM"], ggufArchitectures: ["llama"] },
);

/** A Llama-style spec whose weights come from `load`; `checkTensors` holds the config against the checkpoint. */
export function llamaSpec(
  family: string,
  config: LlamaConfig,
  load: (backend: Backend, dtype: WeightDType | null) => LlamaWeights,
  checkTensors: () => void = () => {},
  storedBytes: () => number = () => llamaWeightBytes(config, "f32"),
): ModelSpec {
  const { nHead, nKVHead, headDim } = config.heads;
  const extras = [config.qkvBias ? "qkv bias" : "", config.qkNorm ? "q/k norm" : "", config.mlpBias ? "mlp bias" : ""].filter((x) => x !== "");
  return {
    family,
    shape: llamaShape(config),
    eosTokenIds: config.eosTokenIds,
    summary:
      `${family}: ${config.nLayer} layers, hidden ${config.hidden}, ${nHead} heads / ${nKVHead} KV heads of ${headDim}, ` +
      `SwiGLU MLP ${config.intermediate}, ${describeRope(config.rope)}, ${config.tieWordEmbeddings ? "tied" : "untied"} head` +
      (extras.length > 0 ? `, ${extras.join(", ")}` : ""),
    weightBytes: (dtype) => {
      checkTensors();
      return dtype === null ? storedBytes() : llamaWeightBytes(config, dtype);
    },
    loadWeights: (backend, dtype) => llamaModel(family, config, load(backend, dtype), backend),
  };
}

/** What loadLlamaSafetensors allocates: matrices in `dtype`; norms, biases and the RoPE tables in f32. */
export function llamaWeightBytes(c: LlamaConfig, dtype: WeightDType): number {
  const { hidden: C, intermediate: I, vocabSize: V, nLayer: L } = c;
  const { nHead: nh, nKVHead: nkv, headDim: hs } = c.heads;
  const qkvRows = (nh + 2 * nkv) * hs;
  const matrices = V * C * (c.tieWordEmbeddings ? 1 : 2) + L * (qkvRows * C + C * nh * hs + 3 * I * C);
  const perLayer = 2 * C + (c.qkvBias ? qkvRows : 0) + (c.qkNorm ? 2 * hs : 0) + (c.outputBias ? C : 0) + (c.mlpBias ? 2 * I + C : 0);
  const rope = c.contextLength * hs;
  return matrixBytes(matrices, dtype) + 4 * (L * perLayer + C + rope);
}

export function llamaModel(family: string, config: LlamaConfig, weights: LlamaWeights, backend: Backend): Model {
  return {
    family,
    shape: llamaShape(config),
    backend,
    forwardPass: (limits) => {
      const state = new LlamaRunState(config, backend, limits);
      return { logits: state.logits, run: (cache, batch) => forward(config, weights, backend, state, cache, batch) };
    },
    decodeWeightArrays: () => decodeWeightArrays(weights),
    parameterCount: () => countParameters(weights),
  };
}
