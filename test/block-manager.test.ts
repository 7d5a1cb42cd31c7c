import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { BlockManager, BlockTable, hashBlock } from "../src/engine/block-manager.js";

const table = (maxBlocks = 16): BlockTable => new BlockTable(new Int32Array(maxBlocks));
const tokensOf = (ids: readonly number[]) => (i: number): number => ids[i];
const range = (n: number, from = 0): number[] => Array.from({ length: n }, (_, i) => from + i);
const blocksOf = (t: BlockTable): number[] => [...t.ids.subarray(0, t.length)];

/** Allocates a sequence of `ids` and marks all of it computed, as after its prefill. */
function prefill(bm: BlockManager, ids: readonly number[], usePrefixCache = true): { t: BlockTable; cached: number } {
  const t = table();
  const cached = bm.allocate(t, tokensOf(ids), ids.length, usePrefixCache);
  assert.notEqual(cached, null);
  bm.commit(t, tokensOf(ids), ids.length);
  return { t, cached: cached ?? 0 };
}

describe("BlockManager", () => {
  it("allocates ceil(tokens / block size) distinct blocks and frees them", () => {
    const bm = new BlockManager(10, 4);
    const t = table();
    assert.equal(bm.allocate(t, tokensOf(range(9)), 9, false), 0);
    assert.equal(t.length, 3);
    assert.equal(new Set(blocksOf(t)).size, 3);
    assert.equal(bm.numFree, 7);
    for (const b of blocksOf(t)) assert.equal(bm.refCountOf(b), 1);
    bm.release(t);
    assert.equal(t.length, 0);
    assert.equal(bm.numFree, 10);
    for (let b = 0; b < 10; b++) assert.equal(bm.refCountOf(b), 0);
  });

  it("appends a block only when a sequence crosses a block boundary", () => {
    const bm = new BlockManager(4, 4);
    const t = table();
    bm.allocate(t, tokensOf(range(3)), 3, false);
    assert.equal(t.length, 1);
    assert.ok(bm.ensureCapacity(t, 4));
    assert.equal(t.length, 1);
    assert.ok(bm.ensureCapacity(t, 5));
    assert.equal(t.length, 2);
    assert.ok(bm.ensureCapacity(t, 16));
    assert.equal(t.length, 4);
    assert.equal(bm.numFree, 0);
    assert.equal(bm.ensureCapacity(t, 17), false, "no free block left");
    assert.equal(t.length, 4, "a failed append changes nothing");
  });

  it("refuses an allocation that does not fit, or would eat into the reserve, without side effects", () => {
    const bm = new BlockManager(4, 4);
    const a = table();
    bm.allocate(a, tokensOf(range(8)), 8, false);
    const b = table();
    assert.equal(bm.allocate(b, tokensOf(range(12)), 12, false), null);
    assert.equal(bm.allocate(b, tokensOf(range(8)), 8, false, 1), null);
    assert.equal(b.length, 0);
    assert.equal(bm.numFree, 2);
    assert.equal(bm.allocate(b, tokensOf(range(8)), 8, false, 0), 0);
    assert.equal(bm.numFree, 0);
  });

  it("reuses the full blocks of a computed prefix, sharing them by reference count", () => {
    const bm = new BlockManager(16, 4);
    const system = range(10, 100); // 2 full blocks + 2 tokens
    const a = prefill(bm, [...system, 1, 2, 3]);
    assert.equal(a.cached, 0);
    const bIds = [...system, 7, 8, 9, 10, 11];
    const b = bm.allocate(table(), tokensOf(bIds), bIds.length, true);
    assert.equal(b, 8, "two full blocks (8 tokens) of the shared prefix are found");
    const stats = bm.stats();
    assert.equal(stats.prefixHitTokens, 8);
    assert.equal(stats.prefixQueryTokens, 13 + 15);
    assert.equal(bm.refCountOf(a.t.ids[0]), 2);
    assert.equal(bm.refCountOf(a.t.ids[1]), 2);
    assert.equal(bm.refCountOf(a.t.ids[2]), 1, "the partial third block is not shared");
  });

  it("never takes the block holding the last prompt token from the cache", () => {
    const bm = new BlockManager(16, 4);
    const ids = range(8, 50); // exactly two full blocks
    prefill(bm, ids);
    const t = table();
    assert.equal(bm.allocate(t, tokensOf(ids), ids.length, true), 4, "only the first block: the last token must be computed");
    assert.equal(t.length, 2);
  });

  it("does not match a block whose earlier tokens differ", () => {
    const bm = new BlockManager(16, 4);
    prefill(bm, [1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const t = table();
    assert.equal(bm.allocate(t, tokensOf([0, 2, 3, 4, 5, 6, 7, 8, 9]), 9, true), 0);
    const u = table();
    assert.equal(bm.allocate(u, tokensOf([1, 2, 3, 4, 5, 6, 7, 0, 9]), 9, true), 4, "first block matches, second differs");
  });

  it("keeps freed prefix blocks reusable until their space is needed, evicting least recently freed first", () => {
    const bm = new BlockManager(6, 4);
    const first = prefill(bm, range(9, 10)); // blocks: 2 full (cached) + 1 partial
    const firstBlocks = blocksOf(first.t);
    bm.release(first.t);
    assert.equal(bm.numFree, 6);
    assert.equal(bm.stats().cachedFreeBlocks, 2);
    // Plain free blocks are handed out before cached ones.
    const other = table();
    bm.allocate(other, tokensOf(range(12, 500)), 12, false);
    assert.deepEqual(blocksOf(other).filter((b) => firstBlocks.slice(0, 2).includes(b)), []);
    bm.release(other);
    // The prefix is still there.
    const again = table();
    assert.equal(bm.allocate(again, tokensOf(range(9, 10)), 9, true), 8);
    assert.deepEqual(blocksOf(again).slice(0, 2), firstBlocks.slice(0, 2));
    bm.release(again);
    // Filling the whole pool evicts the cached blocks; the prefix is gone afterwards.
    const big = table();
    bm.allocate(big, tokensOf(range(24, 900)), 24, false);
    assert.equal(bm.stats().cachedFreeBlocks, 0);
    bm.release(big);
    assert.equal(bm.allocate(table(), tokensOf(range(9, 10)), 9, true), 0);
  });

  it("evicts the tail of a freed prefix before its head", () => {
    const bm = new BlockManager(7, 2);
    const a = prefill(bm, range(9, 10)); // 4 full blocks + 1 partial, 2 blocks never used
    bm.release(a.t);
    // Four blocks: the three plain ones, then one cached block, which must be the tail's.
    const t = table();
    bm.allocate(t, tokensOf(range(8, 300)), 8, false);
    bm.release(t);
    const again = table();
    assert.equal(bm.allocate(again, tokensOf(range(9, 10)), 9, true), 6, "the first three blocks survive");
  });

  it("hashes only blocks that are full and computed", () => {
    const bm = new BlockManager(8, 4);
    const ids = range(12, 1);
    const t = table();
    bm.allocate(t, tokensOf(ids), ids.length, true);
    bm.commit(t, tokensOf(ids), 6); // one block and a half computed
    assert.equal(t.numHashed, 1);
    assert.equal(bm.allocate(table(), tokensOf(ids), ids.length, true), 4, "only the computed block is findable");
    bm.commit(t, tokensOf(ids), 12);
    assert.equal(t.numHashed, 3);
  });

  it("two identical prompts prefilled side by side leave one cached copy and free the other cleanly", () => {
    const bm = new BlockManager(8, 4);
    const ids = range(9, 7);
    const a = table();
    const b = table();
    bm.allocate(a, tokensOf(ids), 9, true);
    bm.allocate(b, tokensOf(ids), 9, true);
    bm.commit(a, tokensOf(ids), 9);
    bm.commit(b, tokensOf(ids), 9);
    bm.release(a);
    bm.release(b);
    assert.equal(bm.numFree, 8);
    assert.equal(bm.stats().cachedFreeBlocks, 2);
    assert.equal(bm.allocate(table(), tokensOf(ids), 9, true), 8);
  });

  it("reference counts: a shared block returns to the free list only when its last user leaves", () => {
    const bm = new BlockManager(8, 4);
    const ids = range(9, 3);
    const a = prefill(bm, ids);
    const b = table();
    bm.allocate(b, tokensOf(ids), 9, true);
    const shared = a.t.ids[0];
    assert.equal(bm.refCountOf(shared), 2);
    const free = bm.numFree;
    bm.release(a.t);
    assert.equal(bm.refCountOf(shared), 1);
    assert.equal(bm.numFree, free + 1, "only a's private block came back");
    bm.release(b);
    assert.equal(bm.refCountOf(shared), 0);
    assert.equal(bm.numFree, 8);
    assert.throws(() => bm.release(withBlocks([shared])), /not in use/);
  });

  it("chains the hash over the whole prefix", () => {
    const a = [1, 2, 3, 4];
    const h1 = hashBlock(0, tokensOf(a), 0, 4);
    assert.equal(hashBlock(0, tokensOf(a), 0, 4), h1);
    assert.notEqual(hashBlock(h1, tokensOf(a), 0, 4), h1);
    assert.notEqual(hashBlock(0, tokensOf([1, 2, 4, 3]), 0, 4), h1);
    assert.ok(Number.isSafeInteger(h1) && h1 > 0);
  });
});

function withBlocks(blocks: number[]): BlockTable {
  const t = new BlockTable(Int32Array.from(blocks));
  t.length = blocks.length;
  return t;
}
