import { UserError } from "../errors.js";
import { decodeOne, prefill } from "../engine/generate.js";
import { ModelRunner } from "../engine/model-runner.js";
import { checkContextLength, checkPrompt } from "../engine/prompt-checks.js";
import { resolveSamplingParams, type SamplingParams } from "../engine/sampling-params.js";
import { endTokenIds, Sequence } from "../engine/sequence.js";
import { StaticKVCache } from "../engine/static-cache.js";
import type { Backend } from "../kernels/backend.js";
import { pickSimdLevel, type SimdLevel } from "../kernels/wasm/exports.js";
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
 * How long decoding runs between two looks at the worker's messages (a stop): the loop is
 * synchronous, so a message waits until it hands the event loop a turn.
 */
const YIELD_EVERY_MS = 25;

/**
 * A model on the wasm backend inside a Web Worker, with a one-slot static KV cache: the
 * browser's counterpart of LLM, over the same forward pass, cache, sampler and step functions.
 */
export class Session {
  private readonly runner: ModelRunner;
  /** The ids whose keys and values the cache holds, at positions 0.., for the next prompt to reuse. */
  private cached: number[] = [];
  private readonly yielder = new MessageChannel();

  private constructor(
    readonly model: Model,
    readonly tokenizer: Tokenizer,
    readonly backend: Backend,
    readonly simd: SimdLevel,
    readonly dtype: WeightDType | null, // null: each matrix as its GGUF stores it
    readonly contextLength: number,
    /** Every id that ends a reply: the checkpoint's declared ones and the tokenizer's eos. */
    private readonly eosTokenIds: readonly number[],
  ) {
    this.runner = new ModelRunner(model, new StaticKVCache(model.shape, backend, 1, contextLength), { maxTokens: PREFILL_CHUNK, maxChunks: 1, maxLogitRows: 1 });
  }

  /**
   * Reads the weights onto a new backend, after checking that weights and cache fit 4 GiB.
   * simd "auto" runs the relaxed-SIMD kernels where the browser validates them.
   */
  static async start(opened: OpenedModel, threads: number, simd: "auto" | SimdLevel): Promise<Session> {
    const { spec, tokenizer } = opened;
    if (threads > 1 && !self.crossOriginIsolated) {
      throw new UserError(`${threads} threads need a cross-origin isolated page (served with COOP/COEP headers) to share memory with workers; this one is not: use 1 thread`);
    }
    const contextLength = checkContextLength(undefined, spec.shape);
    const dtype = fittingDType(spec, contextLength, opened.storage);
    let level: SimdLevel;
    try {
      level = await pickSimdLevel(browserPlatform, simd);
    } catch (e) {
      throw new UserError(`simd "${simd}": ${e instanceof Error ? e.message : String(e)}`);
    }
    const backend = await startWasmBackend(browserPlatform, { threads, simd: level });
    try {
      return new Session(spec.loadWeights(backend, dtype), tokenizer, backend, level, dtype, contextLength, endTokenIds(spec.eosTokenIds, tokenizer));
    } catch (e) {
      backend.close();
      throw e;
    }
  }

  /** Continues `prompt` (text), handing each text piece to `onPiece` as it is decoded. */
  generate(prompt: string, params: Partial<SamplingParams>, onPiece: (text: string) => void, signal: AbortSignal): Promise<GenerationStats & { text: string }> {
    return this.generateIds(this.tokenizer.encode(prompt), params, onPiece, signal);
  }

  /**
   * Continues the prompt `ids`; an aborted `signal` ends it after the current token. The
   * prompt's longest prefix still in the cache from the last call is not computed again.
   */
  async generateIds(ids: readonly number[], params: Partial<SamplingParams>, onPiece: (text: string) => void, signal: AbortSignal): Promise<GenerationStats & { text: string }> {
    const resolved = resolveSamplingParams(params);
    checkPrompt(ids, resolved.maxTokens, this.model.shape, this.contextLength);
    const seed = resolved.seed ?? crypto.getRandomValues(new Uint32Array(1))[0] >>> 1;
    const seq = new Sequence(ids, resolved, this.tokenizer, this.model.shape.vocabSize, seed, this.eosTokenIds);
    const reused = Math.min(commonPrefix(this.cached, ids), ids.length - 1);
    this.cached = ids.slice(0, reused);
    const t0 = performance.now();
    if (seq.finishReason === null) emit(seq.appendFrom(prefill(this.runner, 0, ids, reused)), onPiece);
    const prefillMs = performance.now() - t0;
    let written = ids.length;
    const pieces = [""];
    const sequences = [seq];
    const t1 = performance.now();
    let pausedMs = 0;
    let lastYield = t1;
    let aborted = false;
    while (seq.finishReason === null) {
      if (performance.now() - lastYield >= YIELD_EVERY_MS) {
        const before = performance.now();
        await this.yieldToEvents();
        lastYield = performance.now();
        pausedMs += lastYield - before;
        if (signal.aborted) {
          aborted = true;
          break;
        }
      }
      decodeOne(this.runner, sequences, pieces);
      written++;
      emit(pieces[0], onPiece);
    }
    const decodeMs = performance.now() - t1 - pausedMs;
    this.cached = [...ids, ...seq.outputIds].slice(0, written);
    const decoded = Math.max(0, seq.outputIds.length - 1); // the first token came out of the prefill
    return {
      promptTokens: ids.length,
      reusedTokens: reused,
      generatedTokens: seq.outputIds.length,
      prefillTokensPerSecond: prefillMs > 0 ? ((ids.length - reused) / prefillMs) * 1000 : 0,
      decodeTokensPerSecond: decodeMs > 0 ? (decoded / decodeMs) * 1000 : 0,
      finishReason: aborted ? "aborted" : (seq.finishReason ?? "length"),
      text: seq.text,
    };
  }

  /** One turn of the worker's event loop (a message channel's, which no timer clamp delays). */
  private yieldToEvents(): Promise<void> {
    return new Promise((resolve) => {
      this.yielder.port1.onmessage = () => resolve();
      this.yielder.port2.postMessage(null);
    });
  }

  close(): void {
    this.yielder.port1.close();
    this.backend.close();
  }
}

function commonPrefix(a: readonly number[], b: readonly number[]): number {
  let n = 0;
  while (n < a.length && n < b.length && a[n] === b[n]) n++;
  return n;
}

function emit(piece: string, onPiece: (text: string) => void): void {
  if (piece !== "") onPiece(piece);
}
