import type { LLM } from "../../src/engine/llm.js";

/**
 * How far below this engine's best logit the tokens another engine chose were, along that
 * engine's own continuation: a divergence smaller than the two engines' rounding is a near-tie.
 */
export function maxGapAlong(ours: LLM, ids: number[], theirTokens: number[]): number {
  let gap = 0;
  ours.forEachPositionLogits([...ids, ...theirTokens.slice(0, -1)], (pos, logits) => {
    const step = pos - (ids.length - 1);
    if (step < 0) return;
    let best = -Infinity;
    for (let i = 0; i < logits.length; i++) best = Math.max(best, logits[i]);
    gap = Math.max(gap, best - logits[theirTokens[step]]);
  });
  return gap;
}
