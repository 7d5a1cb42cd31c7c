/** The messages between the page (index.ts) and the engine's worker (engine-worker.ts). */

/** Which kernel build runs: "auto" is the relaxed-SIMD one where the browser validates it. */
export type SimdChoice = "auto" | "relaxed" | "baseline";

export interface LoadRequest {
  readonly type: "load";
  /** A model folder URL (ending in "/"), a .gguf URL, or a Hub id "org/name[@revision]". */
  readonly source: string;
  readonly threads: number;
  readonly simd: SimdChoice;
}

export interface Sampling {
  readonly maxTokens: number;
  readonly temperature: number;
  readonly seed: number | null;
}

export interface GenerateRequest extends Sampling {
  readonly type: "generate";
  readonly prompt: string;
  readonly ignoreEos: boolean;
}

/** The next user message of the worker's conversation; `system` starts a new one with it. */
export interface ChatRequest extends Sampling {
  readonly type: "chat";
  readonly message: string;
  readonly system: string | null;
}

/** Forgets the conversation. */
export interface ResetRequest {
  readonly type: "reset";
}

/** Ends the running generation after its current token (handled at once, not queued). */
export interface StopRequest {
  readonly type: "stop";
}

export type EngineRequest = LoadRequest | GenerateRequest | ChatRequest | ResetRequest | StopRequest;

/** One file's download: `loaded` of `total` bytes (total is null when the server does not say). */
export interface Progress {
  readonly file: string;
  readonly loaded: number;
  readonly total: number | null;
  readonly cached: boolean;
}

export interface ModelInfo {
  readonly source: string;
  readonly summary: string;
  readonly backend: string;
  readonly threads: number;
  /** The kernel build running: "relaxed" (relaxed SIMD: fused multiply-add, int8 dot products) or "baseline". */
  readonly simd: "relaxed" | "baseline";
  readonly dtype: string;
  readonly contextLength: number;
  /** Whether the model ships a chat template (tokenizer_config.json, chat_template.jinja or GGUF metadata). */
  readonly chatTemplate: boolean;
  /** Why chat is off although the model may have a template (it does not parse, or the chat modules did not load), or null. */
  readonly chatError: string | null;
  /** Bytes of model files, and how many were downloaded now (0: all came from the browser's cache). */
  readonly bytes: number;
  readonly downloadedBytes: number;
  /** Why some files are not in the browser's cache (a reload downloads them again), or null. */
  readonly notCached: string | null;
}

export interface GenerationStats {
  readonly promptTokens: number;
  /** Prompt tokens whose keys and values were still in the cache from the previous generation. */
  readonly reusedTokens: number;
  readonly generatedTokens: number;
  readonly prefillTokensPerSecond: number;
  readonly decodeTokensPerSecond: number;
  /** "aborted": stop() ended it. */
  readonly finishReason: "stop" | "length" | "aborted";
}

/** A chat turn's reply, as the conversation now keeps it. */
export interface ChatReply extends GenerationStats {
  readonly text: string;
  /** The prompt ids the turn was generated from: the rendered chat template, encoded. */
  readonly promptIds: readonly number[];
  /** Oldest exchanges dropped from the conversation to fit this turn in the context. */
  readonly dropped: number;
}

export type EngineReply =
  | { readonly type: "progress"; readonly progress: Progress }
  | { readonly type: "loaded"; readonly info: ModelInfo }
  | { readonly type: "piece"; readonly text: string }
  | { readonly type: "done"; readonly stats: GenerationStats }
  | { readonly type: "chat-done"; readonly reply: ChatReply }
  | { readonly type: "reset-done" }
  | { readonly type: "error"; readonly message: string };
