import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { BlockManager, BlockTable } from "../src/engine/block-manager.js";
import { resolveSamplingParams } from "../src/engine/sampling-params.js";
import { ScheduledSequence, Scheduler } from "../src/engine/scheduler.js";
import { Sequence } from "../src/engine/sequence.js";
import { StepBatch } from "../src/model/batch.js";
import { loadTokenizer, type Tokenizer } from "../src/tokenizer/index.js";
import { defaultModelDir } from "./paths.js";

let tokenizer: Tokenizer;
let nextId = 0;

function seqOf(promptLength: number, maxTokens: number, wantPromptLogits = false): ScheduledSequence {
  const offset = nextId * 7; // distinct prompts, so no two sequences share a prefix by accident
  const prompt = Array.from({ length: promptLength }, (_, i) => 65 + ((i + offset) % 26));
  const params = resolveSamplingParams({ maxTokens, ignoreEos: true, temperature: 0 });
  return new ScheduledSequence(nextId++, new Sequence(prompt, params, tokenizer, 257, 0, []), wantPromptLogits);
}

function setup(opts: { numBlocks: number; blockSize: number; maxBatch: number; maxStepTokens: number; watermark?: number }) {
  const blocks = new BlockManager(opts.numBlocks, opts.blockSize);
  const maxBlocks = 64;
  const tables = Array.from({ length: opts.maxBatch }, () => new BlockTable(new Int32Array(maxBlocks)));
  const scheduler = new Scheduler(blocks, tables, {
    maxBatch: opts.maxBatch,
    maxStepTokens: opts.maxStepTokens,
    prefixCaching: true,
    watermarkBlocks: opts.watermark ?? 0,
  });
  const batch = new StepBatch(opts.maxStepTokens, opts.maxBatch, opts.maxStepTokens);
  /** Schedules one step, pretends the model ran, and appends a token where logits came out. */
  const step = (): { id: number; start: number; length: number; rows: number }[] => {
    scheduler.schedule(batch);
    const out = [];
    for (let i = 0; i < scheduler.numChunks; i++) {
      const c = scheduler.chunks[i];
      out.push({ id: c.seq.id, start: c.start, length: c.length, rows: c.numLogitRows });
      scheduler.completed(c);
      if (c.start + c.length === c.seq.numTokens) {
        c.seq.seq.append(66);
        if (c.seq.seq.finishReason !== null) scheduler.finish(c.seq);
      }
    }
    return out;
  };
  return { blocks, scheduler, batch, step };
}

describe("Scheduler", () => {
  before(async () => {
    tokenizer = await loadTokenizer(defaultModelDir);
  });

  it("decodes first, then spends the rest of the token budget on prefill chunks", () => {
    const { scheduler, batch, step } = setup({ numBlocks: 64, blockSize: 4, maxBatch: 4, maxStepTokens: 8 });
    const a = seqOf(5, 10);
    const b = seqOf(20, 10);
    scheduler.add(a);
    scheduler.add(b);
    assert.deepEqual(step(), [
      { id: a.id, start: 0, length: 5, rows: 1 },
      { id: b.id, start: 0, length: 3, rows: 0 },
    ]);
    assert.equal(batch.numTokens, 8);
    assert.deepEqual(step(), [
      { id: a.id, start: 5, length: 1, rows: 1 }, // a's decode comes first
      { id: b.id, start: 3, length: 7, rows: 0 },
    ]);
    step();
    assert.deepEqual(step(), [
      { id: a.id, start: 7, length: 1, rows: 1 },
      { id: b.id, start: 17, length: 3, rows: 1 }, // b's last chunk gives its first token
    ]);
    assert.deepEqual(step(), [
      { id: a.id, start: 8, length: 1, rows: 1 },
      { id: b.id, start: 20, length: 1, rows: 1 },
    ]);
  });

  it("admits in arrival order, up to the batch slots, and frees a slot when a sequence finishes", () => {
    const { scheduler, step, blocks } = setup({ numBlocks: 64, blockSize: 4, maxBatch: 2, maxStepTokens: 64 });
    const seqs = [seqOf(3, 2), seqOf(3, 5), seqOf(3, 5)];
    for (const s of seqs) scheduler.add(s);
    assert.deepEqual(step().map((c) => c.id), [seqs[0].id, seqs[1].id]);
    assert.equal(scheduler.waiting.length, 1);
    step(); // seqs[0] gets its second token and finishes
    assert.equal(seqs[0].status, "finished");
    assert.deepEqual(step().map((c) => c.id), [seqs[1].id, seqs[2].id]);
    while (scheduler.hasWork()) step();
    assert.equal(blocks.stats().usedBlocks, 0);
  });

  it("preempts the newest sequence when blocks run out, then recomputes it and finishes everything", () => {
    // 4 blocks of 4: two sequences of 6 prompt tokens fit (2 blocks each) until both need a third.
    const { scheduler, step, blocks } = setup({ numBlocks: 4, blockSize: 4, maxBatch: 2, maxStepTokens: 32 });
    const a = seqOf(6, 6);
    const b = seqOf(6, 6);
    scheduler.add(a);
    scheduler.add(b);
    step(); // both prefilled: 7 tokens each
    step(); // 8 tokens each
    step(); // 9 tokens each: position 7 was the last of the second block
    const chunks = step(); // a needs a third block for position 8: b is preempted
    assert.deepEqual(chunks.map((c) => c.id), [a.id]);
    assert.equal(scheduler.numPreemptions, 1);
    assert.equal(b.status, "waiting");
    assert.equal(scheduler.waiting[0], b);
    assert.equal(b.seq.outputIds.length, 3, "b keeps what it generated");
    while (a.status !== "finished") step();
    const resumed = step();
    assert.equal(resumed[0].id, b.id);
    assert.equal(resumed[0].start, 4, "b's first full block is found in the prefix cache");
    assert.equal(resumed[0].length, 5, "the rest, generated tokens included, is recomputed (a reused b's second block)");
    while (scheduler.hasWork()) step();
    assert.equal(a.seq.outputIds.length, 6);
    assert.equal(b.seq.outputIds.length, 6);
    assert.equal(blocks.stats().usedBlocks, 0);
  });

  it("a lone sequence preempts itself only if nothing else can give way, and still completes", () => {
    const { scheduler, step, blocks } = setup({ numBlocks: 3, blockSize: 4, maxBatch: 2, maxStepTokens: 32 });
    const a = seqOf(4, 8); // needs 11 positions = 3 blocks at the end
    scheduler.add(a);
    while (scheduler.hasWork()) step();
    assert.equal(a.seq.outputIds.length, 8);
    assert.equal(scheduler.numPreemptions, 0);
    assert.equal(blocks.stats().usedBlocks, 0);
  });

  it("finish() removes a waiting or running sequence and frees its blocks at once", () => {
    const { scheduler, step, blocks } = setup({ numBlocks: 16, blockSize: 4, maxBatch: 1, maxStepTokens: 16 });
    const a = seqOf(9, 20);
    const b = seqOf(3, 20);
    scheduler.add(a);
    scheduler.add(b);
    step();
    assert.equal(blocks.stats().usedBlocks, 3);
    scheduler.finish(b); // still waiting
    assert.equal(scheduler.waiting.length, 0);
    scheduler.finish(a);
    assert.equal(blocks.stats().usedBlocks, 0);
    assert.equal(scheduler.hasWork(), false);
  });

  it("asks for every prompt row's logits when prompt logprobs are wanted", () => {
    const { scheduler, step } = setup({ numBlocks: 16, blockSize: 4, maxBatch: 2, maxStepTokens: 16 });
    const a = seqOf(6, 2, true);
    scheduler.add(a);
    const [c] = step();
    assert.equal(c.rows, 6);
  });
});
