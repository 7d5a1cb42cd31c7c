import { UserError } from "../errors.js";
import { decodeOne, prefill } from "../engine/generate.js";
import { ModelRunner } from "../engine/model-runner.js";
import { checkContextLength, checkPrompt } from "../engine/prompt-checks.js";
import { resolveSamplingParams, type SamplingParams } from "../engine/sampling-params.js";
import { endTokenIds, Sequence } from "../engine/sequence.js";
import { StaticKVCache } from "../engine/static-cache.js";
import type { Backend } from "../kernels/backend.js";
import { startWasmBackend } from "../kernels/wasm/backend.js";
import { browserPlatform } from "../kernels/wasm/platform-browser.js";
import type { WeightDType } from "../model/matrix.js";
import type { Model } from "../model/model.js";
import type { Tokenizer } from "../tokenizer/types.js";
import type { OpenedModel } from "./open.js";
import { fittingDType } from "./memory.js";
import type { GenerationStats } from "./protocol.js";

const PREFILL_CHUNK = 128;

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
    /** Every id that ends a reply: the checkpoint's declared ones and the tokenizer's eos. */
    private readonly eosTokenIds: readonly number[],
  ) {
    this.runner = new ModelRunner(model, new StaticKVCache(model.shape, backend, 1, contextLength), { maxTokens: PREFILL_CHUNK, maxChunks: 1, maxLogitRows: 1 });
  }

  /** Reads the weights onto a new backend, after checking that weights and cache fit 4 GiB. */
  static async start(opened: OpenedModel, threads: number): Promise<Session> {
    const { spec, tokenizer } = opened;
    if (threads > 1 && !self.crossOriginIsolated) {
      throw new UserError(`${threads} threads need a cross-origin isolated page (served with COOP/COEP headers) to share memory with workers; this one is not: use 1 thread`);
    }
    const contextLength = checkContextLength(undefined, spec.shape);
    const dtype = fittingDType(spec, contextLength);
    const backend = await startWasmBackend(browserPlatform, { threads });
    try {
      return new Session(spec.loadWeights(backend, dtype), tokenizer, backend, dtype, contextLength, endTokenIds(spec.eosTokenIds, tokenizer));
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
    const seq = new Sequence(ids, resolved, this.tokenizer, this.model.shape.vocabSize, seed, this.eosTokenIds);
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
