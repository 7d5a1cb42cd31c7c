import type { Backend, WeightArray } from "../kernels/backend.js";
import type { StepBatch } from "./batch.js";
import type { KVCache } from "./kv-cache.js";
import type { WeightDType } from "./matrix.js";
import type { ModelShape } from "./shape.js";

/** The most a forward pass will be asked to do at once; its buffers are sized for this. */
export interface StepLimits {
  readonly maxTokens: number;
  readonly maxChunks: number;
  readonly maxLogitRows: number;
}

/** One forward pass's activations, allocated once, and the pass over them. */
export interface ForwardPass {
  /** (maxLogitRows, V): the next-token logits of the batch's logit rows after `run`. */
  readonly logits: Float32Array;
  run(cache: KVCache, batch: StepBatch): void;
}

/** A model whose weights are in a backend's memory: what the engine runs. */
export interface Model {
  readonly family: string;
  readonly shape: ModelShape;
  readonly backend: Backend;
  /** Allocates the activations of steps within `limits`. */
  forwardPass(limits: StepLimits): ForwardPass;
  /**
   * The arrays a decode step reads in full (every block's matrices and the LM head); the rest is
   * one embedding row per token, norms and biases. Reading these once is the least time a decode
   * step can take.
   */
  decodeWeightArrays(): WeightArray[];
  parameterCount(): number;
}

/** A checkpoint whose config is read and whose weights are still on disk. */
export interface ModelSpec {
  readonly family: string;
  readonly shape: ModelShape;
  /** The end-of-sequence ids the checkpoint's config declares (a tokenizer may add its own). */
  readonly eosTokenIds: readonly number[];
  /** For `info`: the family and the hyperparameters that set this model apart. */
  readonly summary: string;
  /**
   * The bytes loadWeights allocates for `dtype` (weights and tables computed at load), after
   * checking the config against the checkpoint's tensor table: an absurd config value is named
   * here, before anything is allocated. Null: as loadWeights(backend, null) stores them (the
   * matrices a stacked group widens are counted at their own kinds).
   */
  weightBytes(dtype: WeightDType | null): number;
  /**
   * Reads the weights into the backend's memory, converting layouts (and quantizing for q8/f16).
   * `dtype` stores every matrix one way; null keeps each as the checkpoint stores it: a GGUF
   * tensor by its type (layers/gguf-tensors.ts: `storedKind`), other checkpoints in f32.
   */
  loadWeights(backend: Backend, dtype: WeightDType | null): Model;
}
