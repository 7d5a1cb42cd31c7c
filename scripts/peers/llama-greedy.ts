import os from "node:os";
import type { LlamaModel } from "./llama-api.js";

/**
 * llama.cpp's greedy continuation of `ids` in a fresh context (an empty KV cache), with F32 caches
 * so that only the file's own rounding separates it from this engine. With `yieldEog`, end-of-
 * generation tokens are yielded like any other, for comparisons with runs that ignore EOS.
 */
export async function llamaGreedy(model: LlamaModel, ids: number[], nTokens: number, contextSize: number, options: { yieldEog: boolean }): Promise<number[]> {
  const context = await model.createContext({
    contextSize,
    threads: os.availableParallelism(),
    flashAttention: false,
    experimentalKvCacheKeyType: "F32",
    experimentalKvCacheValueType: "F32",
  });
  try {
    const tokens: number[] = [];
    for await (const token of context.getSequence().evaluate(ids, { temperature: 0, yieldEogToken: options.yieldEog })) {
      tokens.push(token);
      if (tokens.length >= nTokens) break;
    }
    return tokens;
  } finally {
    await context.dispose();
  }
}
