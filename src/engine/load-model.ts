import { UserError } from "../errors.js";
import { KV_DTYPES, type KVDType } from "../kernels/backend.js";
import { createBackend, type Backend, type BackendKind, type BackendOptions } from "../kernels/index.js";
import { openModel } from "../model/load.js";
import { defaultStorage, type WeightDType } from "../model/matrix.js";
import type { Model, ModelSpec } from "../model/model.js";
import type { Tokenizer } from "../tokenizer/index.js";
import { checkModelFits } from "./memory-checks.js";

/** What LLM.load and LLMEngine.load both take about the model and where it runs. */
export interface ModelLoadOptions {
  /** Kernel backend: "wasm" (SIMD, threads; the default) or "reference" (plain TypeScript). */
  backend?: BackendKind;
  threads?: number;
  /** wasm only: "baseline" for the same bits on every machine (see WasmBackendOptions.simd). */
  simd?: BackendOptions["simd"];
  /**
   * Weight storage for every matrix: "f32", "f16" (IEEE half, widened as read), "q8" (int8 with a
   * scale per 32 weights) or "q4" (4 bits with a scale per 32). Default: each matrix as the
   * checkpoint stores it — a GGUF file's Q4_K as q4k and Q4_0 as q4 (kept as they are), its other
   * quantized types as q8, floats as f32 (see storedKind in model/layers/gguf-tensors.ts);
   * safetensors and llama2.c checkpoints in f32.
   */
  dtype?: WeightDType;
  /** KV cache storage: "f32" (the default) or "f16" (IEEE halves: half the memory and the reads). */
  kvDtype?: KVDType;
  /** No download progress on stderr when the model comes from the Hub. */
  quiet?: boolean;
  /** The tokenizer.bin of a llama2.c .bin checkpoint (which does not carry its own). */
  tokenizer?: string;
}

/** The KV cache storage options ask for, checked. */
export function kvDTypeOf(options: ModelLoadOptions): KVDType {
  const dtype = options.kvDtype ?? "f32";
  if (!KV_DTYPES.includes(dtype)) throw new UserError(`invalid kvDtype ${JSON.stringify(dtype)}: must be one of ${KV_DTYPES.join(", ")}`);
  return dtype;
}

/** The KV cache a caller will allocate, so it is counted before any weight is read. */
export interface KVBudget {
  readonly bytes: number;
  readonly what: string; // what sized it, for the error
  readonly flag: string; // the option that shrinks it
}

/**
 * The one load path of LLM and LLMEngine: open the checkpoint (config and tokenizer), refuse it
 * if weights and cache cannot fit, make the backend, read the weights. The backend is closed if
 * anything after its creation fails. `wrap` lets LLM put its kernel profiler around the backend.
 */
export async function loadOnBackend(
  source: string,
  options: ModelLoadOptions,
  kvBudget: (spec: ModelSpec) => KVBudget,
  wrap: (backend: Backend) => Backend = (b) => b,
): Promise<{ spec: ModelSpec; model: Model; tokenizer: Tokenizer; eosTokenIds: readonly number[]; backend: Backend; dtype: WeightDType | null }> {
  const { spec, tokenizer, loadWeights, location } = await openModel(source, { quiet: options.quiet, tokenizer: options.tokenizer });
  const dtype = options.dtype ?? defaultStorage(location.kind);
  const kv = kvBudget(spec);
  checkModelFits(spec, options.backend ?? "wasm", dtype, kv.bytes, kv);
  const created = await createBackend({ kind: options.backend ?? "wasm", threads: options.threads, simd: options.simd });
  try {
    const backend = wrap(created);
    return { spec, model: loadWeights(backend, dtype), tokenizer, eosTokenIds: spec.eosTokenIds, backend, dtype };
  } catch (e) {
    created.close();
    throw e;
  }
}
