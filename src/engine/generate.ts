import type { ModelRunner } from "./model-runner.js";
import type { Sequence } from "./sequence.js";

/**
 * The two phases of generation over a static cache (gpt-fast's generate.py): prefill runs a
 * whole prompt through the model in one matrix-matrix pass (in chunks if it is longer than the
 * step buffers), decode feeds one token per sequence per step.
 */

/** Runs tokens[from, to) of the sequence in `slot` at positions from..to-1; returns the last logits (V,). */
export function prefill(runner: ModelRunner, slot: number, tokens: readonly number[], from = 0, to = tokens.length): Float32Array {
  const chunk = runner.batch.maxTokens;
  for (let start = from; start < to; start += chunk) {
    const end = Math.min(start + chunk, to);
    runner.batch.clear();
    runner.batch.add(slot, start, tokens, start, end, end === to ? "last" : "none");
    runner.run();
  }
  return runner.logits(0);
}

/**
 * One decode step: each unfinished sequence (sequences[i] lives in cache slot i) feeds its last
 * token; one pass over the weights serves them all. Samples and appends each next token.
 * Returns the text each sequence added, indexed like `sequences`.
 */
export function decodeOne(runner: ModelRunner, sequences: readonly Sequence[], pieces: string[]): void {
  const batch = runner.batch;
  batch.clear();
  for (let slot = 0; slot < sequences.length; slot++) {
    const seq = sequences[slot];
    pieces[slot] = "";
    if (seq.finishReason !== null) continue;
    batch.addToken(slot, seq.length - 1, seq.lastToken);
  }
  if (batch.numChunks === 0) return;
  runner.run();
  for (let c = 0; c < batch.numChunks; c++) {
    const slot = batch.chunkSlot[c];
    pieces[slot] = sequences[slot].appendFrom(runner.logits(c));
  }
}
