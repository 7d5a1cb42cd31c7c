import { UserError } from "../errors.js";
import { decodeOne, prefill } from "../engine/generate.js";
import { ModelRunner } from "../engine/model-runner.js";
import { checkContextLength, checkPrompt } from "../engine/prompt-checks.js";
import { resolveSamplingParams, type SamplingParams } from "../engine/sampling-params.js";
import { Sequence } from "../engine/sequence.js";
import { StaticKVCache } from "../engine/static-cache.js";
import type { Backend } from "../kernels/backend.js";
import { MAX_MEMORY_BYTES } from "../kernels/wasm/arena.js";
import { startWasmBackend } from "../kernels/wasm/backend.js";
import { browserPlatform } from "../kernels/wasm/platform-browser.js";
import type { WeightDType } from "../model/matrix.js";
import type { Model, ModelSpec } from "../model/model.js";
import { kvWidth } from "../model/shape.js";
import type { Tokenizer } from "../tokenizer/types.js";
import type { OpenedModel } from "./open.js";
import type { GenerationStats } from "./protocol.js";

const PREFILL_CHUNK = 128;
/** f32 as on the command line (same output, bit for bit); smaller only when f32 cannot fit. */
const DTYPES: readonly WeightDType[] = ["f32", "f16", "q8"];

/**
 * A model on the wasm backend inside a Web Worker, with a one-slot static KV cache: the
 * browser's counterpart of LLM, over the same forward pass, cache, sampler and step functions.
 */
export class Session {
  private readonly runner: ModelRunner;

  private constructor(
    readonly model: Model,
    readonly tokenizer: Tokenizer,
    readonly backend: Backend,
    readonly dtype: WeightDType,
    readonly contextLength: number,
  ) {
    this.runner = new ModelRunner(model, new StaticKVCache(model.shape, backend, 1, contextLength), { maxTokens: PREFILL_CHUNK, maxChunks: 1, maxLogitRows: 1 });
  }

  /** Reads the weights onto a new backend, after checking that weights and cache fit 4 GiB. */
  static async start(opened: OpenedModel, threads: number): Promise<Session> {
    const { spec, tokenizer } = opened;
    const contextLength = checkContextLength(undefined, spec.shape);
    const dtype = fittingDType(spec, contextLength);
    const backend = await startWasmBackend(browserPlatform, { threads });
    try {
      return new Session(spec.loadWeights(backend, dtype), tokenizer, backend, dtype, contextLength);
    } catch (e) {
      backend.close();
      throw e;
    }
  }

  /** Continues `prompt`, handing each text piece to `onPiece` as it is decoded. */
  generate(prompt: string, params: Partial<SamplingParams>, onPiece: (text: string) => void): GenerationStats {
    const resolved = resolveSamplingParams(params);
    const ids = this.tokenizer.encode(prompt);
    checkPrompt(ids, resolved.maxTokens, this.model.shape, this.contextLength);
    const seed = resolved.seed ?? crypto.getRandomValues(new Uint32Array(1))[0] >>> 1;
    const seq = new Sequence(ids, resolved, this.tokenizer, this.model.shape.vocabSize, seed);
    const t0 = performance.now();
    if (seq.finishReason === null) emit(seq.appendFrom(prefill(this.runner, 0, seq.promptIds)), onPiece);
    const prefillMs = performance.now() - t0;
    const pieces = [""];
    const sequences = [seq];
    const t1 = performance.now();
    while (seq.finishReason === null) {
      decodeOne(this.runner, sequences, pieces);
      emit(pieces[0], onPiece);
    }
    const decodeMs = performance.now() - t1;
    const decoded = Math.max(0, seq.outputIds.length - 1); // the first token came out of the prefill
    return {
      promptTokens: ids.length,
      generatedTokens: seq.outputIds.length,
      prefillTokensPerSecond: (ids.length / prefillMs) * 1000,
      decodeTokensPerSecond: decodeMs > 0 ? (decoded / decodeMs) * 1000 : 0,
      finishReason: seq.finishReason ?? "length",
    };
  }

  close(): void {
    this.backend.close();
  }
}

function emit(piece: string, onPiece: (text: string) => void): void {
  if (piece !== "") onPiece(piece);
}

/** The first of f32, f16, q8 whose weights and KV cache fit one wasm memory, or a UserError. */
function fittingDType(spec: ModelSpec, contextLength: number): WeightDType {
  const kvBytes = 2 * spec.shape.nLayer * contextLength * kvWidth(spec.shape) * Float32Array.BYTES_PER_ELEMENT;
  const fits = DTYPES.find((d) => spec.weightBytes(d) + kvBytes <= MAX_MEMORY_BYTES);
  if (fits !== undefined) return fits;
  const need = spec.weightBytes("q8") + kvBytes;
  throw new UserError(
    `this model needs ${gib(need)} of wasm memory even with q8 weights (${gib(spec.weightBytes("q8"))} of weights, ${gib(kvBytes)} of KV cache for ${contextLength} positions), ` +
      `more than the 4 GiB a WebAssembly memory can hold: pick a smaller model`,
  );
}

function gib(bytes: number): string {
  return `${(bytes / 2 ** 30).toFixed(2)} GiB`;
}
