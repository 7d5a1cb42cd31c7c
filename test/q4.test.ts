import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Backend, Matrix, Q4Matrix } from "../src/kernels/backend.js";
import { Q4_BLOCK } from "../src/kernels/backend.js";
import { createReferenceBackend, quantizeQ4 } from "../src/kernels/index.js";
import { q4Nibble } from "../src/kernels/quantize.js";
import { encode } from "../src/io/gguf-quant.js";
import { GGMLType } from "../src/io/gguf.js";
import { f32ToF16 } from "../src/numeric/half.js";
import { allocMatrix, readMatrixRow } from "../src/model/matrix.js";
import { UserError } from "../src/errors.js";
import { assertBatchInvariant, INT8_DOT_CHILD_FLAGS, kindTestBackends, assertPassesRelaxed, assertWithinBound, onto, random, rng } from "./kernel-helpers.js";

function ontoQ4(b: Backend, w: Q4Matrix): Q4Matrix {
  const q = b.allocI8(w.q.length);
  q.set(w.q);
  return { ...w, q, scales: onto(b, w.scales) };
}


const ref = createReferenceBackend();
/** Run again in a child process with relaxed SIMD (the end of this file): the relaxed build's own unpacking. */
const relaxedChild = process.env.Q4_TEST_RELAXED === "1";
const wasm = kindTestBackends(relaxedChild, true);

/** Weights with the awkward blocks: all zero, one nonzero, ties of the rounding, a negative extreme. */
function weights(rows: number, cols: number, rand: () => number): Float32Array {
  const a = random(rows * cols, rand);
  if (a.length >= 64) a.fill(0, 0, 32);
  if (a.length >= 96) {
    a.fill(0, 64, 96);
    a[70] = -3;
  }
  if (a.length >= 128) for (let i = 96; i < 128; i++) a[i] = i === 96 ? -8 : ((i % 17) - 8) + 0.5; // d = 1: exact halves
  return a;
}

describe("q4 quantization", () => {
  test("nibbles are ggml's Q4_0 nibbles, the scale its f32 before rounding to f16", () => {
    const rand = rng(1);
    const [rows, cols] = [7, 160];
    const values = weights(rows, cols, rand);
    const m = quantizeQ4(ref, values, rows, cols);
    const gguf = Buffer.alloc((rows * cols / 32) * 18);
    encode(GGMLType.Q4_0, values, rows * cols, gguf);
    for (let b = 0; b < rows * cols / 32; b++) {
      assert.equal(gguf.readUInt16LE(b * 18), f32ToF16(m.scales[b]), `block ${b} scale`);
      for (let j = 0; j < 16; j++) assert.equal(gguf[b * 18 + 2 + j], m.q[b * 16 + j] & 0xff, `block ${b} byte ${j}`);
    }
  });

  test("every weight within half a step of its value (a step if clamped at +7)", () => {
    const rand = rng(2);
    const [rows, cols] = [5, 96];
    const values = weights(rows, cols, rand);
    const m = quantizeQ4(ref, values, rows, cols);
    const row = new Float32Array(cols);
    for (let r = 0; r < rows; r++) {
      readMatrixRow(row, 0, m, r);
      for (let c = 0; c < cols; c++) {
        const d = Math.abs(m.scales[(r * cols + c) / Q4_BLOCK | 0]);
        const err = Math.abs(row[c] - values[r * cols + c]);
        // Half a step, or a whole one for a value clamped to nibble 15 (+7·d: Q4_0's range is −8d..7d).
        const clamped = q4Nibble(m.q, r * cols + c) === 7;
        assert.ok(err <= (clamped ? d : d / 2) + 1e-7 * Math.abs(values[r * cols + c]), `[${r}, ${c}] ${row[c]} vs ${values[r * cols + c]} (d ${d})`);
        assert.equal(row[c], Math.fround(q4Nibble(m.q, r * cols + c) * m.scales[(r * cols + c) / Q4_BLOCK | 0]));
      }
    }
  });

  test("every backend stores the reference's bits, by rows and by whole-block columns", () => {
    const rand = rng(3);
    for (const [rows, cols] of [[1, 32], [3, 64], [5, 160], [33, 96]]) {
      const values = weights(rows, cols, rand);
      const want = quantizeQ4(ref, values, rows, cols);
      const transposed = new Float32Array(rows * cols);
      for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) transposed[c * rows + r] = values[r * cols + c];
      for (const { label, backend } of [{ label: "reference", backend: ref }, ...wasm]) {
        const got = allocMatrix(backend, rows, cols, "q4");
        const split = Math.floor(rows / 2);
        backend.writeMatrixRows(got, 0, onto(backend, values), split);
        backend.writeMatrixRows(got, split, onto(backend, values.subarray(split * cols)), rows - split);
        const gotT = allocMatrix(backend, rows, cols, "q4");
        for (let c = 0; c < cols; c += 32) backend.writeMatrixColumns(gotT, c, onto(backend, transposed.subarray(c * rows, (c + 32) * rows)), 32);
        for (const [m, how] of [[got, "rows"], [gotT, "columns"]] as const) {
          if (m.kind !== "q4") throw new Error("q4 expected");
          assert.deepEqual(Array.from(m.q), Array.from(want.q), `${label} ${rows}×${cols} by ${how}: q`);
          assert.deepEqual(Array.from(m.scales), Array.from(want.scales), `${label} ${rows}×${cols} by ${how}: scales`);
        }
      }
    }
  });

  test("refused: rows that are not whole blocks, partial column blocks", () => {
    assert.throws(() => allocMatrix(ref, 2, 48, "q4"), (e: unknown) => e instanceof UserError && /--dtype q4 needs matrix rows whose length is a multiple of 32/.test(e.message));
    const b = wasm[0].backend;
    const m = allocMatrix(b, 4, 64, "q4");
    assert.throws(() => b.writeMatrixColumns(m, 16, b.allocF32(32 * 4), 32), /q4 columns must be one whole block/);
    assert.throws(() => b.writeMatrixRows(m, 0, new Float32Array(4 * 64), 4), /not in this wasm backend's memory/);
    const w: Matrix = { kind: "q4", rows: 1, cols: 20, q: b.allocI8(10), scales: b.allocF32(1) };
    assert.throws(() => b.matmul(b.allocF32(1), b.allocF32(20), w, null, 1), /multiple of 32/);
  });
});

describe("matmul q4", () => {
  const shapes: [number, number, number][] = [];
  for (const cols of [32, 64, 96, 160, 288]) for (const rows of [1, 5, 31]) for (const n of [1, 2, 3, 17]) shapes.push([n, rows, cols]);
  shapes.push([1, 70, 768], [3, 33, 768], [5, 9, 3072]);

  /**
   * Activations are quantized to int8 per 32-block: |x − x̂| ≤ amax(block)/254, so an output moves
   * from the reference (exact x) by at most Σ_c |ŵ_c|·amax_c/254.
   */
  function int8Bound(x: Float32Array, w: Q4Matrix, n: number): Float32Array {
    const bound = new Float32Array(n * w.rows);
    for (let i = 0; i < n; i++) {
      for (let r = 0; r < w.rows; r++) {
        let s = 0;
        for (let c = 0; c < w.cols; c++) {
          const b0 = i * w.cols + Math.floor(c / Q4_BLOCK) * Q4_BLOCK;
          let amax = 0;
          for (let j = 0; j < Q4_BLOCK; j++) amax = Math.max(amax, Math.abs(x[b0 + j]));
          s += Math.abs(q4Nibble(w.q, r * w.cols + c) * w.scales[(r * w.cols + c) / Q4_BLOCK | 0]) * (amax / 254);
        }
        bound[i * w.rows + r] = s;
      }
    }
    return bound;
  }

  test("within the int8-activation bound of the reference, on every thread count", () => {
    const rand = rng(5);
    for (const [n, rows, cols] of shapes) {
      const w = quantizeQ4(ref, weights(rows, cols, rand), rows, cols);
      const x = random(n * cols, rand);
      const bias = random(rows, rand);
      assertWithinBound(ref, wasm, w, (b) => ontoQ4(b, w), x, bias, n, int8Bound(x, w, n), "q4");
    }
  });

  test("exact (to f32 rounding) when x is already on the int8 grid", () => {
    const rand = rng(6);
    const [n, rows, cols] = [3, 9, 160];
    const w = quantizeQ4(ref, weights(rows, cols, rand), rows, cols);
    const x = new Float32Array(n * cols);
    for (let i = 0; i < x.length; i++) x[i] = i % Q4_BLOCK === 0 ? 127 : Math.round(rand() * 127);
    const want = new Float32Array(n * rows);
    ref.matmul(want, x, w, null, n);
    for (const { label, backend } of wasm) {
      const out = backend.allocF32(n * rows);
      backend.matmul(out, onto(backend, x), ontoQ4(backend, w), null, n);
      for (let i = 0; i < want.length; i++) assert.ok(Math.abs(out[i] - want[i]) <= 1e-5 * (1 + Math.abs(want[i])), `${label} [${i}] ${out[i]} vs ${want[i]}`);
    }
  });

  test("batch and thread invariant: every row the same bits alone, in any batch, on any thread count or build", () => {
    const rand = rng(7);
    for (const [rows, cols] of [[31, 288], [9, 768], [6, 96]]) {
      const w = quantizeQ4(ref, weights(rows, cols, rand), rows, cols);
      const n = 17;
      assertBatchInvariant(wasm, (b) => ontoQ4(b, w), random(n * cols, rand), random(rows, rand), n);
    }
  });

  test("x quads (n = 4..13) over tiles of weight rows, a tile cut short: every row the same bits alone", () => {
    const rand = rng(8);
    // 3072 columns: a tile of unpacked rows holds fewer than 37, so the last tile of every thread's range is partial.
    for (const [rows, cols] of [[37, 3072], [13, 160]]) {
      const w = quantizeQ4(ref, weights(rows, cols, rand), rows, cols);
      for (let n = 4; n <= 13; n++) assertBatchInvariant(wasm, (b) => ontoQ4(b, w), random(n * cols, rand), random(rows, rand), n);
    }
  });
});

describe("q4 with relaxed SIMD", () => {
  test("runs when asked for, where the engine has relaxed SIMD", { skip: !relaxedChild && "checked in the child process below" }, () => {
    assert.match(wasm[0].backend.name, /relaxed/);
  });

  test("this file passes with the relaxed build, in a child with relaxed SIMD", { skip: relaxedChild && "this is the child" }, () => {
    assertPassesRelaxed(import.meta.url, "Q4_TEST_RELAXED", 120_000, INT8_DOT_CHILD_FLAGS);
  });
});
