/**
 * nanogpt-infer in the browser: the engine runs in a Web Worker on the same wasm kernels as on
 * Node, on several threads when the page is cross-origin isolated (served with
 * Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp), on
 * one otherwise. Models are fetched by URL or Hub id and kept in the Cache Storage API.
 */
import type { ChatReply, EngineReply, EngineRequest, GenerationStats, ModelInfo, Progress, SimdChoice } from "./protocol.js";

export type { ChatReply, GenerationStats, ModelInfo, Progress, SimdChoice } from "./protocol.js";

export interface BrowserLoadOptions {
  /** Threads the kernels run on (the engine's worker included); default: see defaultThreads(). */
  readonly threads?: number;
  /** The kernel build: "auto" (default) runs relaxed SIMD where the browser has it; info.simd says which ran. */
  readonly simd?: SimdChoice;
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

export interface BrowserChatOptions extends Omit<BrowserGenerateOptions, "ignoreEos"> {
  /** The conversation's system message, fixed by its first message (resetChat() to change it). */
  readonly system?: string | null;
}

/**
 * Threads the page can use: every core when cross-origin isolated (the kernels' workers share
 * one WebAssembly.Memory, which only such a page may post to a worker), else 1.
 */
export function defaultThreads(): number {
  return self.crossOriginIsolated ? Math.max(1, navigator.hardwareConcurrency || 1) : 1;
}

/** The replies that end a request. */
type Closing = Extract<EngineReply, { type: "done" | "chat-done" | "reset-done" }>;

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
    const request: EngineRequest = { type: "load", source, threads: options.threads ?? defaultThreads(), simd: options.simd ?? "auto" };
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
  async generate(prompt: string, options: BrowserGenerateOptions = {}): Promise<GenerationStats> {
    const r = await this.send({ type: "generate", prompt, ...sampling(options), ignoreEos: options.ignoreEos ?? false }, options.onPiece);
    if (r.type !== "done") throw new Error(`the engine worker answered a generation with ${r.type}`);
    return r.stats;
  }

  /**
   * Sends the next message of the conversation the engine keeps (through the model's chat
   * template, as the command line's chat does); resolves with the reply once it ends. Old
   * exchanges are dropped when the context is full (`dropped` says how many).
   */
  async chat(message: string, options: BrowserChatOptions = {}): Promise<ChatReply> {
    const r = await this.send({ type: "chat", message, system: options.system ?? null, ...sampling(options) }, options.onPiece);
    if (r.type !== "chat-done") throw new Error(`the engine worker answered a chat message with ${r.type}`);
    return r.reply;
  }

  /** Forgets the conversation, system message included. */
  async resetChat(): Promise<void> {
    await this.send({ type: "reset" }, undefined);
  }

  /** Ends the generation or chat reply running now after its current token; it resolves with finishReason "aborted". */
  stop(): void {
    this.worker.postMessage({ type: "stop" } satisfies EngineRequest);
  }

  /** Posts `request` once the calls before it have ended; resolves with the reply that closes it. */
  private send(request: EngineRequest, onPiece: ((text: string) => void) | undefined): Promise<Closing> {
    const run = (): Promise<Closing> =>
      new Promise((resolve, reject) => {
        this.listener = (r) => {
          if (r.type === "piece") onPiece?.(r.text);
          else if (r.type === "error") reject(new Error(r.message));
          else if (r.type !== "progress" && r.type !== "loaded") resolve(r);
        };
        this.worker.postMessage(request);
      });
    const next = this.pending.then(run, run);
    this.pending = next.catch(() => {});
    return next;
  }

  close(): void {
    this.worker.terminate();
  }
}

function sampling(options: BrowserGenerateOptions): { maxTokens: number; temperature: number; seed: number | null } {
  return { maxTokens: options.maxTokens ?? 64, temperature: options.temperature ?? 1, seed: options.seed ?? null };
}
