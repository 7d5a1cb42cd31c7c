import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Backend, Q4KMatrix } from "../src/kernels/backend.js";
import { createReferenceBackend } from "../src/kernels/index.js";
import { copyQ4KBlocks, q4kWeight, quantizeQ8K } from "../src/kernels/q4k.js";
import { dequantizeQ4K, Q4_K_BYTES, quantizeQ4K } from "../src/io/gguf-kquants.js";
import { allocMatrix, readMatrixRow } from "../src/model/matrix.js";
import { UserError } from "../src/errors.js";
import { assertBatchInvariant, INT8_DOT_CHILD_FLAGS, kindTestBackends, assertPassesRelaxed, assertWithinBound, onto, random, rng, q8kBound } from "./kernel-helpers.js";

function ontoQ4K(b: Backend, w: Q4KMatrix): Q4KMatrix {
  const q = b.allocI8(w.q.length);
  q.set(w.q);
  const subScales = b.allocI8(w.subScales.length);
  subScales.set(w.subScales);
  return { ...w, q, subScales, superScales: onto(b, w.superScales) };
}

const ref = createReferenceBackend();
/** Run again in a child process with relaxed SIMD (the end of this file). */
const relaxedChild = process.env.Q4K_TEST_RELAXED === "1";
const wasm = kindTestBackends(relaxedChild, true);

/** A q4k matrix of ggml's Q4_K quantization of `values`, in the reference backend. */
function q4kOf(values: Float32Array, rows: number, cols: number): Q4KMatrix {
  const m = allocMatrix(ref, rows, cols, "q4k");
  if (m.kind !== "q4k") throw new Error("q4k expected");
  ref.writeMatrixRows(m, 0, values, rows);
  return m;
}

/** Weights with awkward sub-blocks: all zero, all positive (min 0), one large outlier. */
function weights(rows: number, cols: number, rand: () => number): Float32Array {
  const a = random(rows * cols, rand);
  a.fill(0, 0, 32);
  for (let i = 32; i < 64 && i < a.length; i++) a[i] = Math.abs(a[i]);
  if (a.length > 100) a[100] = 9;
  return a;
}

describe("q4k storage", () => {
  test("holds ggml's Q4_K weights: the same bits as dequantize_row_q4_K", () => {
    const rand = rng(11);
    const rows = 3, cols = 512;
    const values = weights(rows, cols, rand);
    const blocks = (rows * cols) / 256;
    const bytes = new Uint8Array(blocks * Q4_K_BYTES);
    quantizeQ4K(values, 0, blocks, bytes, 0);
    const want = new Float32Array(rows * cols);
    dequantizeQ4K(bytes, 0, blocks, want, 0);
    const m = allocMatrix(ref, rows, cols, "q4k");
    if (m.kind !== "q4k") throw new Error("q4k expected");
    copyQ4KBlocks(bytes, 0, blocks, m, 0);
    for (let i = 0; i < want.length; i++) assert.equal(q4kWeight(m, i), want[i], `weight ${i}`);
    const row = new Float32Array(cols);
    readMatrixRow(row, 0, m, 2);
    assert.deepEqual(Array.from(row), Array.from(want.subarray(2 * cols)));
    // writeMatrixRows quantizes as ggml does: the same arrays.
    const written = q4kOf(values, rows, cols);
    assert.deepEqual(Array.from(written.q), Array.from(m.q));
    assert.deepEqual(Array.from(written.subScales), Array.from(m.subScales));
    assert.deepEqual(Array.from(written.superScales), Array.from(m.superScales));
  });

  test("needs whole super-blocks and is written by rows", async () => {
    assert.throws(() => allocMatrix(ref, 2, 288, "q4k"), (e: unknown) => e instanceof UserError && /multiple of 256/.test(e.message));
    const m = allocMatrix(ref, 4, 256, "q4k");
    assert.throws(() => ref.writeMatrixColumns(m, 0, new Float32Array(32 * 4), 32), /written by rows/);
    const b = wasm[0].backend;
    assert.throws(() => b.writeMatrixColumns(allocMatrix(b, 4, 256, "q4k"), 0, b.allocF32(32 * 4), 32), /written by rows/);
    const bad: Q4KMatrix = { kind: "q4k", rows: 1, cols: 288, q: b.allocI8(144), subScales: b.allocI8(32), superScales: b.allocF32(4) };
    assert.throws(() => b.matmul(b.allocF32(1), b.allocF32(288), bad, null, 1), /multiple of 256/);
    const short: Q4KMatrix = { kind: "q4k", rows: 2, cols: 256, q: b.allocI8(128), subScales: b.allocI8(32), superScales: b.allocF32(4) };
    assert.throws(() => b.matmul(b.allocF32(2), b.allocF32(256), short, null, 1), /w\.q: length 128 < 256/);
  });
});

describe("matmul q4k", () => {
  const shapes: [number, number, number][] = [];
  for (const cols of [256, 512, 768]) for (const rows of [1, 5, 31]) for (const n of [1, 2, 3, 17]) shapes.push([n, rows, cols]);
  shapes.push([1, 70, 1536], [3, 33, 1280], [5, 9, 3072]);

  /**
   * The kernels compute the reference's integers exactly and then a few f32 roundings per
   * super-block (its sums' conversion, d·xs, the product, the running sum over ≤ 12 super-blocks):
   * each output is within 2e-6 of the magnitude Σ_k xs_k·Σ_c (d·sc·q + dmin·m)·|x̂_c| of its terms.
   */
  function f32Bound(x: Float32Array, w: Q4KMatrix, n: number): Float32Array {
    const bound = new Float32Array(n * w.rows);
    const supers = w.cols / 256;
    const xq = new Int8Array(w.cols), xs = new Float32Array(supers);
    for (let i = 0; i < n; i++) {
      quantizeQ8K(x.subarray(i * w.cols, (i + 1) * w.cols), xq, xs);
      for (let r = 0; r < w.rows; r++) {
        let s = 0;
        for (let c = 0; c < w.cols; c++) {
          const k = r * supers + (c >> 8), j = (c >> 5) & 7;
          const wmax = w.superScales[2 * k] * w.subScales[16 * k + j] * 15 + w.superScales[2 * k + 1] * w.subScales[16 * k + 8 + j];
          s += xs[c >> 8] * wmax * Math.abs(xq[c]);
        }
        bound[i * w.rows + r] = 2e-6 * s;
      }
    }
    return bound;
  }

  test("the reference quantizes x as Q8_K: within its bound of the exact product", () => {
    const rand = rng(15);
    for (const [n, rows, cols] of [[3, 5, 768], [2, 9, 1536]]) {
      const w = q4kOf(weights(rows, cols, rand), rows, cols);
      const x = random(n * cols, rand);
      x[5] = 40; // an outlier coarsens its whole super-block's grid
      const got = new Float32Array(n * rows);
      ref.matmul(got, x, w, null, n);
      const bound = q8kBound(x, w.rows, w.cols, n, (i) => q4kWeight(w, i));
      for (let i = 0; i < n; i++) {
        for (let r = 0; r < rows; r++) {
          let exact = 0;
          for (let c = 0; c < cols; c++) exact += x[i * cols + c] * q4kWeight(w, r * cols + c);
          const err = Math.abs(got[i * rows + r] - exact);
          assert.ok(err <= 1.01 * bound[i * rows + r] + 1e-5 * (1 + Math.abs(exact)), `[${i}, ${r}] ${got[i * rows + r]} vs exact ${exact} (bound ${bound[i * rows + r]})`);
        }
      }
    }
    // Q8_K's grid: ±127 at amax, ties to even.
    const xq = new Int8Array(256), xs = new Float32Array(1);
    const v = new Float32Array(256);
    v[0] = -127;
    v[1] = 2.5;
    v[2] = 3.5;
    v[3] = -0.5;
    quantizeQ8K(v, xq, xs);
    assert.deepEqual([xs[0], xq[0], xq[1], xq[2], xq[3], xq[4]], [1, -127, 2, 4, 0, 0]);
  });

  test("the reference's Q4_K · Q8_K sums, to f32 rounding, on every thread count", () => {
    const rand = rng(12);
    for (const [n, rows, cols] of shapes) {
      const w = q4kOf(weights(rows, cols, rand), rows, cols);
      const x = random(n * cols, rand);
      const bias = random(rows, rand);
      assertWithinBound(ref, wasm, w, (b) => ontoQ4K(b, w), x, bias, n, f32Bound(x, w, n), "q4k");
    }
  });

  test("exact (to f32 rounding) when x is already on the int8 grid", () => {
    const rand = rng(13);
    const [n, rows, cols] = [3, 9, 512];
    const w = q4kOf(weights(rows, cols, rand), rows, cols);
    const x = new Float32Array(n * cols);
    for (let i = 0; i < x.length; i++) x[i] = i % 32 === 0 ? 127 : Math.round(rand() * 127);
    const want = new Float32Array(n * rows);
    ref.matmul(want, x, w, null, n);
    for (const { label, backend } of wasm) {
      const out = backend.allocF32(n * rows);
      backend.matmul(out, onto(backend, x), ontoQ4K(backend, w), null, n);
      for (let i = 0; i < want.length; i++) assert.ok(Math.abs(out[i] - want[i]) <= 1e-5 * (1 + Math.abs(want[i])), `${label} [${i}] ${out[i]} vs ${want[i]}`);
    }
  });

  test("batch and thread invariant: every row the same bits alone, in any batch, on any thread count or build", () => {
    const rand = rng(14);
    for (const [rows, cols] of [[31, 768], [9, 1536], [6, 256]]) {
      const w = q4kOf(weights(rows, cols, rand), rows, cols);
      const n = 17;
      assertBatchInvariant(wasm, (b) => ontoQ4K(b, w), random(n * cols, rand), random(rows, rand), n);
    }
  });

  test("x quads (n = 4..13) over tiles of weight rows, a tile cut short: every row the same bits alone", () => {
    const rand = rng(15);
    // 3072 columns: a tile of unpacked rows holds fewer than 37, so the last tile of every thread's range is partial.
    for (const [rows, cols] of [[37, 3072], [13, 512]]) {
      const w = q4kOf(weights(rows, cols, rand), rows, cols);
      for (let n = 4; n <= 13; n++) assertBatchInvariant(wasm, (b) => ontoQ4K(b, w), random(n * cols, rand), random(rows, rand), n);
    }
  });
});

describe("q4k with relaxed SIMD", () => {
  test("runs when asked for, where the engine has relaxed SIMD", { skip: !relaxedChild && "checked in the child process below" }, () => {
    assert.match(wasm[0].backend.name, /relaxed/);
  });

  test("this file passes with the relaxed build, in a child with relaxed SIMD", { skip: relaxedChild && "this is the child" }, () => {
    assertPassesRelaxed(import.meta.url, "Q4K_TEST_RELAXED", 180_000, INT8_DOT_CHILD_FLAGS);
  });
});
