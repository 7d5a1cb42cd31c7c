/** nanogpt-infer's library API. */
export { LLM, Generation, BatchRun, logSoftmaxAt } from "./engine/llm.js";
export type { LoadOptions, GenerationResult, Timings, Prompt } from "./engine/llm.js";
export { resolveSamplingParams, DEFAULT_SAMPLING } from "./engine/sampling-params.js";
export type { SamplingParams } from "./engine/sampling-params.js";
export type { FinishReason } from "./engine/sequence.js";
export { loadModel, openModel, type LoadedModel, type OpenedModel } from "./model/load.js";
export type { WeightDType } from "./model/matrix.js";
export type { Model, ModelSpec } from "./model/model.js";
export type { ModelShape } from "./model/shape.js";
export { FAMILIES } from "./model/families/index.js";
export { defaultModelDir } from "./model/default-model.js";
export { loadTokenizer, BpeTokenizer, type Tokenizer, type StreamDecoder, type EncodeOptions, type DecodeOptions } from "./tokenizer/index.js";
export { createBackend, enableRelaxedSimd, type Backend, type BackendKind } from "./kernels/index.js";
export { UserError } from "./errors.js";
export { LLMEngine, SequenceHandle, QueueFullError, AbortedError } from "./engine/llm-engine.js";
export type { EngineOptions, SequenceRequest, SequenceResult, TokenEvent, EngineStats } from "./engine/llm-engine.js";
export { startServer, type ServerOptions, type RunningServer } from "./server/server.js";
