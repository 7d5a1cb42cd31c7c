/** The messages between the page (client.ts) and the engine's worker (engine-worker.ts). */

export interface LoadRequest {
  readonly type: "load";
  /** A model folder URL (ending in "/"), a .gguf URL, or a Hub id "org/name[@revision]". */
  readonly source: string;
  readonly threads: number;
}

export interface GenerateRequest {
  readonly type: "generate";
  readonly prompt: string;
  readonly maxTokens: number;
  readonly temperature: number;
  readonly seed: number | null;
  readonly ignoreEos: boolean;
}

export type EngineRequest = LoadRequest | GenerateRequest;

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
  readonly dtype: string;
  readonly contextLength: number;
  /** Bytes of model files, and how many were downloaded now (0: all came from the browser's cache). */
  readonly bytes: number;
  readonly downloadedBytes: number;
  /** Why some files are not in the browser's cache (a reload downloads them again), or null. */
  readonly notCached: string | null;
}

export interface GenerationStats {
  readonly promptTokens: number;
  readonly generatedTokens: number;
  readonly prefillTokensPerSecond: number;
  readonly decodeTokensPerSecond: number;
  readonly finishReason: "stop" | "length";
}

export type EngineReply =
  | { readonly type: "progress"; readonly progress: Progress }
  | { readonly type: "loaded"; readonly info: ModelInfo }
  | { readonly type: "piece"; readonly text: string }
  | { readonly type: "done"; readonly stats: GenerationStats }
  | { readonly type: "error"; readonly message: string };
