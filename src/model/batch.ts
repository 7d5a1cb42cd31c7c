/**
 * What one forward pass computes: a list of chunks, each some consecutive tokens of one
 * sequence starting at a cache position. A prefill is one chunk of many tokens, a decode step
 * is one single-token chunk per sequence, and continuous batching mixes both in one pass,
 * so every matmul reads its weights once for all of them. Buffers are allocated once.
 */
export class StepBatch {
  readonly tokens: Int32Array; // (maxTokens,) ids of all chunks, concatenated
  readonly positions: Int32Array; // (maxTokens,) cache position of each token
  readonly chunkSlot: Int32Array; // (maxChunks,) which cache sequence each chunk belongs to
  readonly chunkStart: Int32Array; // (maxChunks,) first position of the chunk in its sequence
  readonly chunkLength: Int32Array; // (maxChunks,)
  readonly logitRows: Int32Array; // (maxLogitRows,) rows of `tokens` whose next-token logits are wanted
  numTokens = 0;
  numChunks = 0;
  numLogitRows = 0;

  constructor(
    readonly maxTokens: number,
    readonly maxChunks: number,
    readonly maxLogitRows: number,
  ) {
    this.tokens = new Int32Array(maxTokens);
    this.positions = new Int32Array(maxTokens);
    this.chunkSlot = new Int32Array(maxChunks);
    this.chunkStart = new Int32Array(maxChunks);
    this.chunkLength = new Int32Array(maxChunks);
    this.logitRows = new Int32Array(maxLogitRows);
  }

  clear(): void {
    this.numTokens = 0;
    this.numChunks = 0;
    this.numLogitRows = 0;
  }

  /** Adds one decode token of the sequence in `slot` at position `pos`, with its logits. */
  addToken(slot: number, pos: number, token: number): void {
    if (this.numTokens >= this.maxTokens || this.numChunks >= this.maxChunks || this.numLogitRows >= this.maxLogitRows) {
      throw new Error("StepBatch.addToken: batch is full");
    }
    this.tokens[this.numTokens] = token;
    this.positions[this.numTokens] = pos;
    this.logitRows[this.numLogitRows++] = this.numTokens;
    this.chunkSlot[this.numChunks] = slot;
    this.chunkStart[this.numChunks] = pos;
    this.chunkLength[this.numChunks] = 1;
    this.numChunks++;
    this.numTokens++;
  }

  /**
   * Adds tokens[from, to) of a sequence in cache slot `slot`, the first at position `pos`.
   * `logits` picks the rows whose logits the pass computes: none (an early prefill chunk),
   * the last (prefill's end, decode) or all (perplexity, prompt logprobs).
   */
  add(slot: number, pos: number, tokens: ArrayLike<number>, from: number, to: number, logits: "none" | "last" | "all"): void {
    const t = to - from;
    if (t <= 0) throw new Error("StepBatch.add: empty chunk");
    if (this.numTokens + t > this.maxTokens || this.numChunks >= this.maxChunks) throw new Error("StepBatch.add: batch is full");
    const wanted = logits === "all" ? t : logits === "last" ? 1 : 0;
    if (this.numLogitRows + wanted > this.maxLogitRows) throw new Error("StepBatch.add: too many logit rows");
    const first = this.numTokens;
    for (let i = 0; i < t; i++) {
      this.tokens[first + i] = tokens[from + i];
      this.positions[first + i] = pos + i;
    }
    for (let i = t - wanted; i < t; i++) this.logitRows[this.numLogitRows++] = first + i;
    this.chunkSlot[this.numChunks] = slot;
    this.chunkStart[this.numChunks] = pos;
    this.chunkLength[this.numChunks] = t;
    this.numChunks++;
    this.numTokens += t;
  }
}
