import { UserError } from "../errors.js";
import type { ModelShape } from "../model/shape.js";

/** The context a cache is sized for: the model's unless a smaller one is asked for. */
export function checkContextLength(asked: number | undefined, shape: ModelShape): number {
  const contextLength = asked ?? shape.contextLength;
  if (!Number.isInteger(contextLength) || contextLength < 1 || contextLength > shape.contextLength) {
    throw new UserError(`invalid context length ${contextLength}: must be an integer in [1, ${shape.contextLength}]`);
  }
  return contextLength;
}

/** A prompt must be non-empty, in the vocabulary, and leave room for max_tokens in the context. */
export function checkPrompt(ids: readonly number[], maxTokens: number, shape: ModelShape, contextLength: number): void {
  if (ids.length === 0) throw new UserError("the prompt is empty: give at least one token");
  for (const id of ids) {
    if (!Number.isInteger(id) || id < 0 || id >= shape.vocabSize) throw new UserError(`token id ${id} is outside the vocabulary [0, ${shape.vocabSize})`);
  }
  // The last generated token is never fed back, so prompt + max_tokens - 1 positions are used.
  if (ids.length + maxTokens > contextLength) {
    throw new UserError(`prompt (${ids.length} tokens) + max_tokens (${maxTokens}) = ${ids.length + maxTokens} exceeds the context of ${contextLength} tokens`);
  }
}
