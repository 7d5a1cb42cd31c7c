import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Backend, Matrix, Q5Matrix } from "../src/kernels/backend.js";
import { Q5_BLOCK, q5HighBytesPerRow } from "../src/kernels/backend.js";
import { createReferenceBackend } from "../src/kernels/index.js";
import { copyQ5Blocks, Q5_0_BYTES, q5Value, q5Weight } from "../src/kernels/q5.js";
import { decodeF32, encode } from "../src/io/gguf-quant.js";
import { GGMLType } from "../src/io/gguf.js";
import { readGGUF } from "../src/io/gguf-read.js";
import { f32ToF16 } from "../src/numeric/half.js";
import { allocMatrix, matrixBytes, readMatrixRow } from "../src/model/matrix.js";
import { stackedKind } from "../src/model/layers/gguf-tensors.js";
import { LLAMA_STYLE_VARIANTS } from "../src/model/families/llama/index.js";
import { llamaConfigFromGGUF, loadLlamaGGUF } from "../src/model/families/llama/load-gguf.js";
import { familyOfGGUF } from "../src/model/families/index.js";
import { convertCommand } from "../src/cli/convert.js";
import { infoCommand } from "../src/cli/info.js";
import { LLM } from "../src/engine/llm.js";
import { UserError } from "../src/errors.js";
import { assertBatchInvariant, INT8_DOT_CHILD_FLAGS, kindTestBackends, assertPassesRelaxed, assertWithinBound, onto, random, rng } from "./kernel-helpers.js";
import { fixtureModel, fixtures } from "./paths.js";

function ontoQ5(b: Backend, w: Q5Matrix): Q5Matrix {
  const q = b.allocI8(w.q.length);
  q.set(w.q);
  const qh = b.allocI8(w.qh.length);
  qh.set(w.qh);
  return { ...w, q, qh, scales: onto(b, w.scales) };
}

const ref = createReferenceBackend();
/** Run again in a child process with relaxed SIMD (the end of this file): the relaxed build's own unpacking. */
const relaxedChild = process.env.Q5_TEST_RELAXED === "1";
const wasm = kindTestBackends(relaxedChild, true);

/** A q5 matrix of ggml's Q5_0 quantization of `values`, in the reference backend. */
function q5Of(values: Float32Array, rows: number, cols: number): Q5Matrix {
  const m = allocMatrix(ref, rows, cols, "q5");
  if (m.kind !== "q5") throw new Error("q5 expected");
  ref.writeMatrixRows(m, 0, values, rows);
  return m;
}

/** Weights with the awkward blocks: all zero, one nonzero, ties of the rounding, a negative extreme, all high bits set. */
function weights(rows: number, cols: number, rand: () => number): Float32Array {
  const a = random(rows * cols, rand);
  if (a.length >= 64) a.fill(0, 0, 32);
  if (a.length >= 96) {
    a.fill(0, 64, 96);
    a[70] = -3;
  }
  if (a.length >= 128) for (let i = 96; i < 128; i++) a[i] = i === 96 ? -16 : ((i % 31) - 16) + 0.5; // d = 1: exact halves
  if (a.length >= 160) for (let i = 128; i < 160; i++) a[i] = i === 128 ? -1 : 0.99; // q = 31: every fifth bit set
  return a;
}

/** The ggml Q5_0 bytes of `values` (whole blocks). */
function q5_0Bytes(values: Float32Array): Buffer {
  const out = Buffer.alloc((values.length / 32) * Q5_0_BYTES);
  encode(GGMLType.Q5_0, values, values.length, out);
  return out;
}

describe("q5 storage", () => {
  test("holds ggml's Q5_0 weights: the same bits as dequantize_row_q5_0, rows of partial groups included", () => {
    const rand = rng(1);
    for (const [rows, cols] of [[3, 160], [2, 32], [4, 256], [3, 576]]) {
      const values = weights(rows, cols, rand);
      const bytes = q5_0Bytes(values);
      const want = new Float32Array(rows * cols);
      decodeF32(GGMLType.Q5_0, bytes, rows * cols, want, 0);
      const m = allocMatrix(ref, rows, cols, "q5");
      if (m.kind !== "q5") throw new Error("q5 expected");
      const blocks = cols / 32;
      for (let r = 0; r < rows; r++) copyQ5Blocks(bytes, r * blocks * Q5_0_BYTES, blocks, m, r, 0);
      for (let i = 0; i < want.length; i++) assert.equal(q5Weight(m, i), want[i], `${rows}×${cols} weight ${i}`);
      const row = new Float32Array(cols);
      readMatrixRow(row, 0, m, rows - 1);
      assert.deepEqual(Array.from(row), Array.from(want.subarray((rows - 1) * cols)));
      // A row's last group is padded with zero bits: nothing of another row leaks in.
      assert.equal(m.qh.length, rows * q5HighBytesPerRow(cols));
    }
  });

  test("writeMatrixRows quantizes as quantize_row_q5_0_ref: the same q, and the scale ggml rounds to f16", () => {
    const rand = rng(2);
    const [rows, cols] = [7, 160];
    const values = weights(rows, cols, rand);
    const m = q5Of(values, rows, cols);
    const gguf = q5_0Bytes(values);
    for (let b = 0; b < (rows * cols) / 32; b++) {
      const o = b * Q5_0_BYTES;
      assert.equal(gguf.readUInt16LE(o), f32ToF16(m.scales[b]), `block ${b} scale`);
      const fifth = gguf.readUInt32LE(o + 2);
      for (let j = 0; j < 32; j++) {
        const nibble = j < 16 ? gguf[o + 6 + j] & 15 : gguf[o + 6 + j - 16] >> 4;
        assert.equal(q5Value(m, b * 32 + j), nibble | (((fifth >>> j) & 1) << 4), `block ${b} value ${j}`);
      }
    }
    // Every weight within half a step of its value (a step if clamped at +15·d: Q5_0's range is −16d..15d).
    const row = new Float32Array(cols);
    for (let r = 0; r < rows; r++) {
      readMatrixRow(row, 0, m, r);
      for (let c = 0; c < cols; c++) {
        const i = r * cols + c;
        const d = Math.abs(m.scales[Math.floor(i / 32)]);
        const clamped = q5Value(m, i) === 31;
        assert.ok(Math.abs(row[c] - values[i]) <= (clamped ? d : d / 2) + 1e-7 * Math.abs(values[i]), `[${r}, ${c}] ${row[c]} vs ${values[i]}`);
      }
    }
  });

  test("every backend stores the reference's bits, by rows and by whole-block columns", () => {
    const rand = rng(3);
    for (const [rows, cols] of [[1, 32], [3, 64], [5, 160], [33, 96], [2, 288]]) {
      const values = weights(rows, cols, rand);
      const want = q5Of(values, rows, cols);
      const transposed = new Float32Array(rows * cols);
      for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) transposed[c * rows + r] = values[r * cols + c];
      for (const { label, backend } of [{ label: "reference", backend: ref }, ...wasm]) {
        const got = allocMatrix(backend, rows, cols, "q5");
        const split = Math.floor(rows / 2);
        backend.writeMatrixRows(got, 0, onto(backend, values), split);
        backend.writeMatrixRows(got, split, onto(backend, values.subarray(split * cols)), rows - split);
        const gotT = allocMatrix(backend, rows, cols, "q5");
        for (let c = 0; c < cols; c += 32) backend.writeMatrixColumns(gotT, c, onto(backend, transposed.subarray(c * rows, (c + 32) * rows)), 32);
        for (const [m, how] of [[got, "rows"], [gotT, "columns"]] as const) {
          if (m.kind !== "q5") throw new Error("q5 expected");
          assert.deepEqual(Array.from(m.q), Array.from(want.q), `${label} ${rows}×${cols} by ${how}: q`);
          assert.deepEqual(Array.from(m.qh), Array.from(want.qh), `${label} ${rows}×${cols} by ${how}: qh`);
          assert.deepEqual(Array.from(m.scales), Array.from(want.scales), `${label} ${rows}×${cols} by ${how}: scales`);
        }
      }
    }
  });

  test("bytes: a fifth bit and an f32 scale per weight of 32, rows padded to groups of 128", () => {
    assert.equal(matrixBytes(576 * 3072, "q5", 576), 3072 * (288 + 80 + 72));
    assert.equal(matrixBytes(1536 * 576, "q5", 1536), 576 * 1536 * 0.75);
    assert.equal(matrixBytes(1536 * 576, "q5"), 576 * 1536 * 0.75);
    const m = allocMatrix(ref, 3, 576, "q5");
    if (m.kind !== "q5") throw new Error("q5 expected");
    assert.equal(m.q.byteLength + m.qh.byteLength + m.scales.byteLength, matrixBytes(3 * 576, "q5", 576));
  });

  test("refused: rows that are not whole blocks, partial column blocks, arrays too short", () => {
    assert.throws(() => allocMatrix(ref, 2, 48, "q5"), (e: unknown) => e instanceof UserError && /--dtype q5 needs matrix rows whose length is a multiple of 32/.test(e.message));
    const b = wasm[0].backend;
    const m = allocMatrix(b, 4, 64, "q5");
    assert.throws(() => b.writeMatrixColumns(m, 16, b.allocF32(32 * 4), 32), /q5 columns must be one whole block/);
    assert.throws(() => ref.writeMatrixColumns(allocMatrix(ref, 4, 64, "q5"), 0, new Float32Array(16 * 4), 16), /q5 columns must be one whole block/);
    assert.throws(() => b.writeMatrixRows(m, 0, new Float32Array(4 * 64), 4), /not in this wasm backend's memory/);
    const odd: Matrix = { kind: "q5", rows: 1, cols: 20, q: b.allocI8(10), qh: b.allocI8(16), scales: b.allocF32(1) };
    assert.throws(() => b.matmul(b.allocF32(1), b.allocF32(20), odd, null, 1), /multiple of 32/);
    const short: Matrix = { kind: "q5", rows: 2, cols: 160, q: b.allocI8(160), qh: b.allocI8(32), scales: b.allocF32(10) };
    assert.throws(() => b.matmul(b.allocF32(2), b.allocF32(160), short, null, 1), /w\.qh: length 32 < 64/);
  });
});

describe("matmul q5", () => {
  const shapes: [number, number, number][] = [];
  for (const cols of [32, 64, 96, 128, 160, 288, 576]) for (const rows of [1, 5, 31]) for (let n = 1; n <= 9; n++) shapes.push([n, rows, cols]);
  shapes.push([1, 70, 768], [3, 33, 1536], [17, 9, 896], [5, 9, 3072]);

  /**
   * Activations are quantized to int8 per 32-block: |x − x̂| ≤ amax(block)/254, so an output moves
   * from the reference (exact x) by at most Σ_c |ŵ_c|·amax_c/254.
   */
  function int8Bound(x: Float32Array, w: Q5Matrix, n: number): Float32Array {
    const bound = new Float32Array(n * w.rows);
    for (let i = 0; i < n; i++) {
      for (let r = 0; r < w.rows; r++) {
        let s = 0;
        for (let c = 0; c < w.cols; c++) {
          const b0 = i * w.cols + Math.floor(c / Q5_BLOCK) * Q5_BLOCK;
          let amax = 0;
          for (let j = 0; j < Q5_BLOCK; j++) amax = Math.max(amax, Math.abs(x[b0 + j]));
          s += Math.abs(q5Weight(w, r * w.cols + c)) * (amax / 254);
        }
        bound[i * w.rows + r] = s;
      }
    }
    return bound;
  }

  test("the reference is the exact product with ggml's weights", () => {
    const rand = rng(4);
    const [n, rows, cols] = [2, 5, 160];
    const w = q5Of(weights(rows, cols, rand), rows, cols);
    const x = random(n * cols, rand);
    const got = new Float32Array(n * rows);
    ref.matmul(got, x, w, null, n);
    for (let i = 0; i < n; i++) {
      for (let r = 0; r < rows; r++) {
        let exact = 0;
        for (let c = 0; c < cols; c++) exact += x[i * cols + c] * q5Weight(w, r * cols + c);
        assert.ok(Math.abs(got[i * rows + r] - exact) <= 1e-5 * (1 + Math.abs(exact)), `[${i}, ${r}] ${got[i * rows + r]} vs ${exact}`);
      }
    }
  });

  test("within the int8-activation bound of the reference, n = 1..9 rows, on every thread count", () => {
    const rand = rng(5);
    for (const [n, rows, cols] of shapes) {
      const w = q5Of(weights(rows, cols, rand), rows, cols);
      const x = random(n * cols, rand);
      const bias = random(rows, rand);
      assertWithinBound(ref, wasm, w, (b) => ontoQ5(b, w), x, bias, n, int8Bound(x, w, n), "q5");
    }
  });

  test("exact (to f32 rounding) when x is already on the int8 grid", () => {
    const rand = rng(6);
    for (const [n, rows, cols] of [[3, 9, 160], [6, 5, 576]]) {
      const w = q5Of(weights(rows, cols, rand), rows, cols);
      const x = new Float32Array(n * cols);
      for (let i = 0; i < x.length; i++) x[i] = i % Q5_BLOCK === 0 ? 127 : Math.round(rand() * 127);
      const want = new Float32Array(n * rows);
      ref.matmul(want, x, w, null, n);
      // f32 rounding of the per-block terms and their running sum: relative to the terms' magnitude.
      const mag = new Float32Array(n * rows);
      for (let i = 0; i < n; i++) for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) mag[i * rows + r] += Math.abs(x[i * cols + c] * q5Weight(w, r * cols + c));
      for (const { label, backend } of wasm) {
        const out = backend.allocF32(n * rows);
        backend.matmul(out, onto(backend, x), ontoQ5(backend, w), null, n);
        for (let i = 0; i < want.length; i++) assert.ok(Math.abs(out[i] - want[i]) <= 1e-5 * (1 + Math.abs(want[i])) + 1e-6 * mag[i], `${label} ${n}×${cols} [${i}] ${out[i]} vs ${want[i]}`);
      }
    }
  });

  test("batch and thread invariant: every row the same bits alone, in any batch, on any thread count or build", () => {
    const rand = rng(7);
    for (const [rows, cols] of [[31, 288], [9, 768], [6, 96], [40, 576]]) {
      const w = q5Of(weights(rows, cols, rand), rows, cols);
      const n = 17;
      assertBatchInvariant(wasm, (b) => ontoQ5(b, w), random(n * cols, rand), random(rows, rand), n);
    }
  });
});

describe("GGUF files with Q5_0 matrices", () => {
  let work: string;
  let llama: string;
  let gpt2: string;
  before(async () => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), "nanogpt-q5-"));
    llama = path.join(work, "llama.gguf");
    gpt2 = path.join(work, "gpt2.gguf");
    // Rows of 32, 64 or 128 values are not whole Q4_K super-blocks: llama.cpp's quantizer (and convert's) falls back to Q5_0.
    await convertCommand({ model: path.join(fixtures, "llama-tiny-random"), to: "gguf", dtype: "q4_k", out: llama, quiet: true });
    await convertCommand({ model: fixtureModel("gpt2-tiny-random"), to: "gguf", dtype: "q4_k", out: gpt2, quiet: true });
  });
  after(() => fs.rmSync(work, { recursive: true, force: true }));

  const ids = [1, 5, 9, 17, 3, 30, 11, 22, 7, 2, 13, 19, 25, 6, 28, 14];
  function logits(llm: LLM): Float32Array[] {
    const out: Float32Array[] = [];
    llm.forEachPositionLogits(ids, (_, l) => out.push(l.slice()));
    return out;
  }
  function maxDiff(a: Float32Array[], b: Float32Array[]): number {
    let d = 0;
    a.forEach((row, p) => row.forEach((v, i) => (d = Math.max(d, Math.abs(v - b[p][i])))));
    return d;
  }

  test("a stack of Q5_0 parts stays q5; mixed with any other type it takes q8", () => {
    assert.equal(stackedKind([GGMLType.Q5_0, GGMLType.Q5_0, GGMLType.Q5_0]), "q5");
    assert.equal(stackedKind([GGMLType.Q5_0, GGMLType.Q8_0]), "q8");
    assert.equal(stackedKind([GGMLType.Q5_0, GGMLType.Q4_0]), "q8");
    assert.equal(stackedKind([GGMLType.Q5_0, GGMLType.Q4_K]), "q8");
    assert.equal(stackedKind([GGMLType.Q5_0, GGMLType.F16]), "f32");
  });

  test("loads as q5 with ggml's weights, bit for bit; the reference's logits are its f32 load's", async () => {
    const g = readGGUF(llama);
    assert.ok(g.tensors.some((t) => t.type === GGMLType.Q5_0), "the converted file holds Q5_0 tensors");
    const variant = LLAMA_STYLE_VARIANTS.get(familyOfGGUF(g));
    assert.ok(variant !== undefined);
    const c = llamaConfigFromGGUF(g, variant);
    const stored = loadLlamaGGUF(g, c, ref, null);
    const exact = loadLlamaGGUF(g, c, ref, "f32");
    let q5 = 0;
    stored.blocks.forEach((b, l) => {
      for (const key of ["qkv", "o", "gateUp"] as const) {
        const m = b[key];
        assert.equal(m.kind, "q5", `block ${l} ${key}`);
        q5++;
        const row = new Float32Array(m.cols), want = new Float32Array(m.cols);
        for (let r = 0; r < m.rows; r++) {
          readMatrixRow(row, 0, m, r);
          readMatrixRow(want, 0, exact.blocks[l][key], r);
          assert.deepEqual(row, want, `block ${l} ${key} row ${r}`);
        }
      }
    });
    assert.ok(q5 >= 6);
    assert.match(await infoCommand({ model: llama, quiet: true }), /Q5_0 → q5/);
    const f32 = await LLM.load(llama, { backend: "reference", dtype: "f32" });
    const asStored = await LLM.load(llama, { backend: "reference" });
    try {
      const d = maxDiff(logits(asStored), logits(f32));
      assert.ok(d < 1e-4, `reference, q5 vs f32 load: ${d}`);
    } finally {
      f32.close();
      asStored.close();
    }
  });

  test("logits on the wasm kernels: the q5 load within 0.06 of the exact weights' and 0.15 of the q8 load's", async () => {
    const g = readGGUF(gpt2);
    const matrices = g.tensors.filter((t) => t.dims.length === 2 && t.name !== "position_embd.weight");
    assert.ok(matrices.length === 9 && matrices.every((t) => t.type === GGMLType.Q5_0), "every matrix Q5_0");
    const exact = await LLM.load(gpt2, { backend: "reference", dtype: "f32" });
    const want = logits(exact);
    exact.close();
    for (const simd of ["baseline", "auto"] as const) {
      const q5 = await LLM.load(gpt2, { threads: 2, simd });
      const q8 = await LLM.load(gpt2, { threads: 2, simd, dtype: "q8" });
      try {
        const a = logits(q5), b = logits(q8);
        // The same weights, so only the rounding of activations moves the logits (up to 2.2 here): q5's
        // to ±127 per 32 as llama.cpp's, 0.03 from the exact product; q8's the same in the baseline
        // build (measured: no difference) and ±63 in the relaxed one (0.07 from exact, 0.09 from q5).
        assert.ok(maxDiff(a, want) < 0.06, `${simd}: q5 vs exact ${maxDiff(a, want)}`);
        assert.ok(maxDiff(a, b) < 0.15, `${simd}: q5 vs q8 load ${maxDiff(a, b)}`);
      } finally {
        q5.close();
        q8.close();
      }
    }
  });
});

describe("--dtype q5", () => {
  test("quantizes a folder's f32 weights (GPT-2's Conv1D by whole-block columns): logits near the f32 load's, the wasm kernels near the reference's", async () => {
    const folder = fixtureModel("gpt2-tiny-random");
    const ids = [1, 5, 9, 17, 3, 30, 11, 22];
    const logits = (llm: LLM) => {
      const out: number[] = [];
      llm.forEachPositionLogits(ids, (_, l) => out.push(...l));
      return out;
    };
    const maxDiff = (a: number[], b: number[]) => a.reduce((d, v, i) => Math.max(d, Math.abs(v - b[i])), 0);
    const f32 = await LLM.load(folder, { backend: "reference" });
    const ref5 = await LLM.load(folder, { backend: "reference", dtype: "q5" });
    const wasm5 = await LLM.load(folder, { threads: 2, dtype: "q5" });
    try {
      assert.equal(ref5.dtype, "q5");
      const want = logits(f32), r = logits(ref5), w = logits(wasm5);
      // This random model's weights are coarse for 5 bits (logits up to 2.2; q4 moves them 0.53, q8 0.04).
      assert.ok(maxDiff(r, want) < 0.4, `reference q5 vs f32: ${maxDiff(r, want)}`);
      assert.ok(maxDiff(r, want) > 1e-3, "rounded, so not identical");
      assert.ok(maxDiff(w, r) < 0.06, `wasm vs reference q5: ${maxDiff(w, r)}`);
    } finally {
      f32.close();
      ref5.close();
      wasm5.close();
    }
  });
});

describe("q5 with relaxed SIMD", () => {
  test("runs when asked for, where the engine has relaxed SIMD", { skip: !relaxedChild && "checked in the child process below" }, () => {
    assert.match(wasm[0].backend.name, /relaxed/);
  });

  test("this file passes with the relaxed build, in a child with relaxed SIMD", { skip: relaxedChild && "this is the child" }, () => {
    assertPassesRelaxed(import.meta.url, "Q5_TEST_RELAXED", 240_000, INT8_DOT_CHILD_FLAGS);
  });
});
