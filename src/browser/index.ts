/**
 * nanogpt-infer in the browser: the engine runs in a Web Worker on the same wasm kernels as on
 * Node, on several threads when the page is cross-origin isolated (served with
 * Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp), on
 * one otherwise. Models are fetched by URL or Hub id and kept in the Cache Storage API.
 */
import type { EngineReply, EngineRequest, GenerationStats, ModelInfo, Progress } from "./protocol.js";

export type { GenerationStats, ModelInfo, Progress } from "./protocol.js";

export interface BrowserLoadOptions {
  /** Threads the kernels run on (the engine's worker included); default: see defaultThreads(). */
  readonly threads?: number;
  readonly onProgress?: (progress: Progress) => void;
}

export interface BrowserGenerateOptions {
  readonly maxTokens?: number;
  readonly temperature?: number;
  readonly seed?: number | null;
  /** Generate maxTokens tokens even past the end-of-text token (for benchmarks). */
  readonly ignoreEos?: boolean;
  /** Each decoded piece of text, as it comes. */
  readonly onPiece?: (text: string) => void;
}

/**
 * Threads the page can use: every core when cross-origin isolated (the kernels' workers share
 * one WebAssembly.Memory, which only such a page may post to a worker), else 1.
 */
export function defaultThreads(): number {
  return self.crossOriginIsolated ? Math.max(1, navigator.hardwareConcurrency || 1) : 1;
}

/** A model loaded in its own engine worker. */
export class BrowserLLM {
  private pending: Promise<unknown> = Promise.resolve();
  private listener: ((reply: EngineReply) => void) | null = null;

  private constructor(
    private readonly worker: Worker,
    readonly info: ModelInfo,
  ) {
    worker.onmessage = (e: MessageEvent<EngineReply>) => this.listener?.(e.data);
  }

  /** Downloads (or reads from the browser's cache) and loads a model: a folder URL ending in "/", a .gguf URL, or a Hub id "org/name". */
  static async load(source: string, options: BrowserLoadOptions = {}): Promise<BrowserLLM> {
    const worker = new Worker(new URL("./engine-worker.js", import.meta.url), { type: "module", name: "nanogpt-infer engine" });
    const request: EngineRequest = { type: "load", source, threads: options.threads ?? defaultThreads() };
    try {
      const info = await new Promise<ModelInfo>((resolve, reject) => {
        worker.onerror = (e) => reject(new Error(`the engine worker failed: ${e.message}`));
        worker.onmessage = (e: MessageEvent<EngineReply>) => {
          const r = e.data;
          if (r.type === "progress") options.onProgress?.(r.progress);
          else if (r.type === "loaded") resolve(r.info);
          else if (r.type === "error") reject(new Error(r.message));
        };
        worker.postMessage(request);
      });
      return new BrowserLLM(worker, info);
    } catch (e) {
      worker.terminate();
      throw e;
    }
  }

  /** Continues `prompt`; resolves with the speeds once it ends. Calls queue up, one at a time. */
  generate(prompt: string, options: BrowserGenerateOptions = {}): Promise<GenerationStats> {
    const request: EngineRequest = { type: "generate", prompt, maxTokens: options.maxTokens ?? 64, temperature: options.temperature ?? 1, seed: options.seed ?? null, ignoreEos: options.ignoreEos ?? false };
    const run = (): Promise<GenerationStats> =>
      new Promise((resolve, reject) => {
        this.listener = (r) => {
          if (r.type === "piece") options.onPiece?.(r.text);
          else if (r.type === "done") resolve(r.stats);
          else if (r.type === "error") reject(new Error(r.message));
        };
        this.worker.postMessage(request);
      });
    const result = this.pending.then(run, run);
    this.pending = result.catch(() => {});
    return result;
  }

  close(): void {
    this.worker.terminate();
  }
}
