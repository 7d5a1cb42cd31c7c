import type { StepBatch } from "../model/batch.js";
import type { BlockManager, BlockTable, TokenAt } from "./block-manager.js";
import type { Sequence } from "./sequence.js";

export type SequenceStatus = "waiting" | "running" | "finished";

/** A Sequence as the scheduler sees it: where its keys and values are and how many are computed. */
export class ScheduledSequence {
  status: SequenceStatus = "waiting";
  /** Tokens whose keys and values are in the cache; the rest still have to run through the model. */
  numComputed = 0;
  /** Prompt tokens found in the prefix cache at the first admission. */
  numCachedTokens = 0;
  numPreemptions = 0;
  slot = -1;
  table: BlockTable | null = null;
  readonly tokenAt: TokenAt;

  /** wantPromptLogits: logits for every prompt position (prompt logprobs), so no prefix-cache skipping. */
  constructor(
    readonly id: number,
    readonly seq: Sequence,
    public wantPromptLogits: boolean,
  ) {
    const prompt = seq.promptIds;
    const output = seq.outputIds;
    this.tokenAt = (i) => (i < prompt.length ? prompt[i] : output[i - prompt.length]);
  }

  /** Prompt plus generated tokens. The last one is not computed yet: feeding it gives the next logits. */
  get numTokens(): number {
    return this.seq.length;
  }
}

/** One chunk of the step being run: tokens [start, start + length) of seq, and its logit rows. */
export interface ScheduledChunk {
  seq: ScheduledSequence;
  start: number;
  length: number;
  firstLogitRow: number;
  numLogitRows: number;
}

export interface SchedulerLimits {
  /** Sequences running at once (batch slots). */
  readonly maxBatch: number;
  /** Tokens per forward pass: one per decoding sequence, the rest for prefill chunks. */
  readonly maxStepTokens: number;
  readonly prefixCaching: boolean;
  /** Free blocks kept back when admitting while others run, so they can grow without preempting at once. */
  readonly watermarkBlocks: number;
}

/**
 * Continuous batching (Orca; vLLM's and nano-vllm's scheduler) with chunked prefill (Sarathi):
 * every step first gives each decoding sequence its one token, then spends what is left of the
 * token budget on unfinished prefills, then admits waiting sequences. When a decoding sequence
 * needs a block and none is free, the newest running sequence is preempted: its blocks are
 * freed and it goes back to the front of the queue, to be recomputed later.
 */
export class Scheduler {
  readonly waiting: ScheduledSequence[] = [];
  readonly running: ScheduledSequence[] = []; // in admission order, oldest first
  readonly chunks: ScheduledChunk[] = []; // reused step after step; only [0, numChunks) is current
  numChunks = 0;
  numPreemptions = 0;
  private readonly freeSlots: number[];
  private readonly scratch: Int32Array; // the tokens of one chunk, as StepBatch.add takes them

  constructor(
    private readonly blocks: BlockManager,
    private readonly tables: readonly BlockTable[],
    readonly limits: SchedulerLimits,
  ) {
    if (tables.length < limits.maxBatch) throw new Error(`Scheduler: ${tables.length} block tables for ${limits.maxBatch} slots`);
    if (limits.maxStepTokens < limits.maxBatch) throw new Error("Scheduler: maxStepTokens must be >= maxBatch");
    this.freeSlots = Array.from({ length: limits.maxBatch }, (_, i) => limits.maxBatch - 1 - i);
    this.scratch = new Int32Array(limits.maxStepTokens);
  }

  add(s: ScheduledSequence): void {
    if (s.status !== "waiting") throw new Error("Scheduler.add: sequence is not new");
    this.waiting.push(s);
  }

  hasWork(): boolean {
    return this.waiting.length > 0 || this.running.length > 0;
  }

  /** Fills `batch` with this step's chunks (also listed in `chunks[0, numChunks)`). */
  schedule(batch: StepBatch): void {
    batch.clear();
    this.numChunks = 0;
    let budget = this.limits.maxStepTokens;
    // Decodes first: they are one token each and someone is waiting for every one of them.
    for (let i = 0; i < this.running.length && budget > 0; i++) {
      const s = this.running[i];
      if (s.numTokens - s.numComputed !== 1) continue;
      if (!this.makeRoom(s)) break; // s itself was preempted: it was the newest, nothing follows
      this.addChunk(batch, s, 1);
      budget--;
    }
    for (let i = 0; i < this.running.length && budget > 0; i++) {
      const s = this.running[i];
      const remaining = s.numTokens - s.numComputed;
      if (remaining <= 1) continue;
      const length = Math.min(remaining, budget);
      this.addChunk(batch, s, length);
      budget -= length;
    }
    while (budget > 0 && this.waiting.length > 0 && this.freeSlots.length > 0) {
      const s = this.waiting[0];
      const slot = this.freeSlots[this.freeSlots.length - 1];
      const table = this.tables[slot];
      const reserve = this.running.length > 0 ? this.limits.watermarkBlocks : 0;
      const cached = this.blocks.allocate(table, s.tokenAt, s.numTokens, this.limits.prefixCaching && !s.wantPromptLogits, reserve);
      if (cached === null) break; // first come, first served: nobody overtakes the head of the queue
      this.waiting.shift();
      this.freeSlots.pop();
      s.status = "running";
      s.slot = slot;
      s.table = table;
      s.numComputed = cached;
      if (s.numPreemptions === 0) s.numCachedTokens = cached;
      this.running.push(s);
      const length = Math.min(s.numTokens - cached, budget);
      this.addChunk(batch, s, length);
      budget -= length;
    }
  }

  /** Records that a chunk ran: its tokens are computed, and its full blocks become reusable. */
  completed(chunk: ScheduledChunk): void {
    const s = chunk.seq;
    s.numComputed = chunk.start + chunk.length;
    if (s.table !== null) this.blocks.commit(s.table, s.tokenAt, s.numComputed);
  }

  /** Removes a finished or cancelled sequence and frees its blocks and slot at once. */
  finish(s: ScheduledSequence): void {
    if (s.status === "waiting") {
      const i = this.waiting.indexOf(s);
      if (i >= 0) this.waiting.splice(i, 1);
    } else if (s.status === "running") {
      const i = this.running.indexOf(s);
      if (i >= 0) this.running.splice(i, 1);
      this.releaseSlot(s);
    }
    s.status = "finished";
  }

  /** Ensures s has a block for its next token, preempting newer sequences; false if s itself was preempted. */
  private makeRoom(s: ScheduledSequence): boolean {
    const table = s.table;
    if (table === null) throw new Error("Scheduler: running sequence without a block table");
    while (!this.blocks.ensureCapacity(table, s.numTokens)) {
      // Only sequences newer than s can still be unscheduled this step, and the newest is last.
      const victim = this.running[this.running.length - 1];
      this.preempt(victim);
      if (victim === s) return false;
    }
    return true;
  }

  private preempt(s: ScheduledSequence): void {
    this.running.pop();
    this.releaseSlot(s);
    s.status = "waiting";
    s.numComputed = 0;
    s.numPreemptions++;
    this.waiting.unshift(s);
    this.numPreemptions++;
  }

  private releaseSlot(s: ScheduledSequence): void {
    if (s.table !== null) this.blocks.release(s.table);
    this.freeSlots.push(s.slot);
    s.table = null;
    s.slot = -1;
  }

  private addChunk(batch: StepBatch, s: ScheduledSequence, length: number): void {
    const start = s.numComputed;
    const end = start + length;
    for (let j = 0; j < length; j++) this.scratch[j] = s.tokenAt(start + j);
    const firstLogitRow = batch.numLogitRows;
    batch.add(s.slot, start, this.scratch, 0, length, s.wantPromptLogits ? "all" : end === s.numTokens ? "last" : "none");
    const numLogitRows = batch.numLogitRows - firstLogitRow;
    if (this.numChunks === this.chunks.length) this.chunks.push({ seq: s, start, length, firstLogitRow, numLogitRows });
    const c = this.chunks[this.numChunks++];
    c.seq = s;
    c.start = start;
    c.length = length;
    c.firstLogitRow = firstLogitRow;
    c.numLogitRows = numLogitRows;
  }
}
