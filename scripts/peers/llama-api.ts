/**
 * The slice of node-llama-cpp 3.21's API that bench:peers (llama-cpp.ts) and check:llama-cpp use,
 * typed here because the package lives outside the project's dependencies (in bench/.peers/).
 */
export interface LlamaSequence {
  evaluate(tokens: number[], options: { temperature: number; yieldEogToken?: boolean }): AsyncGenerator<number, void, void>;
  clearHistory(): Promise<void>;
}
export interface LlamaContext {
  getSequence(): LlamaSequence;
  printTimings(): Promise<void>;
  dispose(): Promise<void>;
}
export interface LlamaModel {
  tokenize(text: string): number[];
  createContext(options: {
    contextSize: number;
    batchSize?: number;
    sequences?: 1;
    threads: number | { ideal: number; min: number };
    flashAttention?: boolean;
    performanceTracking?: boolean;
    /** llama.cpp's default is F16; the correctness checks ask for F32 to compare with the engine. */
    experimentalKvCacheKeyType?: "F32";
    experimentalKvCacheValueType?: "F32";
  }): Promise<LlamaContext>;
  dispose(): Promise<void>;
}
export interface Llama {
  loadModel(options: { modelPath: string; gpuLayers?: 0 }): Promise<LlamaModel>;
  dispose(): Promise<void>;
}
export interface NodeLlamaCpp {
  getLlama(options: {
    gpu: false;
    build: "never";
    logLevel: "error" | "info";
    logger?: (level: string, message: string) => void;
    maxThreads?: number;
  }): Promise<Llama>;
}
