import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { fileURLToPath } from "node:url";
import path from "node:path";
import type { Backend, KVView, Matrix } from "../src/kernels/backend.js";
import { Q8_BLOCK } from "../src/kernels/backend.js";
import { createBackend, createReferenceBackend, createWasmBackend, quantizeQ8 } from "../src/kernels/index.js";
import { createReadProbe, type ReadProbe } from "../src/kernels/read-probe.js";
import { readSum as referenceReadSum } from "../src/kernels/reference.js";
import { allocMatrix, type WeightDType } from "../src/model/matrix.js";
import { f16Table, f32ToF16 } from "../src/numeric/half.js";
import { toWeightHalf, weightHalfOfBits, weightHalfTable } from "../src/kernels/f16.js";
import { onto, random, rng } from "./kernel-helpers.js";

function ontoHalves(b: Backend, src: Uint16Array): Uint16Array {
  const a = b.allocU16(src.length);
  a.set(src);
  return a;
}

/**
 * An f16 KV cache's contents for random values: rounded to nearest even, with awkward halves
 * mixed in (zeros of both signs, the smallest and largest subnormals, the smallest normal).
 */
function kvHalves(a: Float32Array): Uint16Array {
  const special = [0x0000, 0x8000, 0x0001, 0x83ff, 0x0400, 0x3c00];
  return Uint16Array.from(a, (x, i) => (i % 29 === 5 ? special[i % special.length] : f32ToF16(x)));
}

/** Halves as the f32 values they stand for. */
function widenHalves(h: Uint16Array): Float32Array {
  const table = f16Table();
  return Float32Array.from(h, (x) => table[x]);
}

type KVStorage = "f32" | "f16";

function ontoMatrix(b: Backend, w: Matrix): Matrix {
  if (w.kind === "f32") return { ...w, data: onto(b, w.data) };
  if (w.kind === "f16") {
    const data = b.allocU16(w.data.length);
    data.set(w.data);
    return { ...w, data };
  }
  const q = b.allocI8(w.q.length);
  q.set(w.q);
  if (w.kind === "q4k" || w.kind === "q6k") {
    const subScales = b.allocI8(w.subScales.length);
    subScales.set(w.subScales);
    return { ...w, q, subScales, superScales: onto(b, w.superScales) };
  }
  if (w.kind === "q5") {
    const qh = b.allocI8(w.qh.length);
    qh.set(w.qh);
    return { ...w, q, qh, scales: onto(b, w.scales) };
  }
  return { ...w, q, scales: onto(b, w.scales) };
}

/** |got - want| ≤ tol(i) for every element, with the first offender in the message. */
function assertClose(got: Float32Array, want: Float32Array, tol: (i: number) => number, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i] - want[i]);
    if (!(err <= tol(i))) assert.fail(`${what}: [${i}] got ${got[i]}, want ${want[i]} (err ${err}, tol ${tol(i)})`);
  }
}

const f32Tol = (want: Float32Array) => (i: number) => 1e-5 * (1 + Math.abs(want[i]));

/**
 * For long dot products f32 accumulation error scales with Σ|x_c·w_c|, not with the result:
 * `mag` is the reference matmul of |x| and |w|.
 */
const dotTol = (want: Float32Array, mag: Float32Array) => (i: number) => 1e-5 * (1 + Math.abs(want[i])) + 1e-6 * mag[i];

function absMatmul(x: Float32Array, w: Matrix, n: number): Float32Array {
  if (w.kind !== "f32") throw new Error("f32 only");
  const mag = new Float32Array(n * w.rows);
  ref.matmul(mag, x.map(Math.abs), { ...w, data: w.data.map(Math.abs) }, null, n);
  return mag;
}

interface Wasm {
  readonly label: string;
  readonly backend: Backend;
}

const ref = createReferenceBackend();
const wasm: Wasm[] = [];
/** q8 matmuls that keep x in f32, on 1, 2 and 3 threads. */
const wasmF32Acts: Wasm[] = [];

/**
 * Every backend here runs the SIMD build "auto" picks (relaxed where the engine has it); this file
 * runs again in a child process on the other build (see the end), which must pass the same tests.
 */
const childLevel = process.env.KERNELS_TEST_SIMD;
const child = childLevel === "relaxed" || childLevel === "baseline";
const simd = child ? childLevel : "auto";

/** The SIMD build a wasm backend runs, from its name ("wasm-simd(relaxed, …)"). */
function simdLevel(b: Backend): string {
  return /\(relaxed/.test(b.name) ? "relaxed" : "baseline";
}

/** Largest quantized |x| of a backend's q8 matmul: 7 bits in the relaxed build (assembly/q8.ts). */
function int8Top(b: Backend): number {
  return simdLevel(b) === "relaxed" ? 63 : 127;
}

before(async () => {
  // minParallelNanos 0: split even the tiny test shapes, so every thread's range logic runs.
  for (const threads of [1, 2, 3]) {
    wasm.push({ label: `wasm×${threads}`, backend: await createWasmBackend({ threads, minParallelNanos: 0, simd }) });
  }
  wasm.push({ label: "wasm×2 default split", backend: await createWasmBackend({ threads: 2, simd }) });
  // Workers that park at once wake up late for every job: the caller takes most chunks itself.
  wasm.push({ label: "wasm×2 parked workers", backend: await createWasmBackend({ threads: 2, minParallelNanos: 0, spinMicros: 0, simd }) });
  for (const threads of [1, 2, 3]) {
    wasmF32Acts.push({ label: `wasm×${threads} f32 x`, backend: await createWasmBackend({ threads, minParallelNanos: 0, q8Activations: "f32", simd }) });
  }
});

after(() => {
  for (const w of [...wasm, ...wasmF32Acts]) w.backend.close();
});

/**
 * Random F16 weights, with the awkward halves mixed in: ±0, the smallest and largest subnormals,
 * the smallest normal, and ±63.97 (the largest F16 storage takes). Also returns them as an f32
 * matrix of the same values.
 */
function randomF16(rows: number, cols: number, rand: () => number): { f16: Matrix; f32: Matrix } {
  const special = [0x0000, 0x8000, 0x0001, 0x8001, 0x03ff, 0x0400, 0x53ff, 0xd3ff];
  const table = f16Table();
  const values = new Float32Array(rows * cols);
  for (let i = 0; i < values.length; i++) {
    const u = rand();
    values[i] = u > 0.97 ? table[special[Math.floor((u - 0.97) * 266) % special.length]] : table[f32ToF16(u)];
  }
  return { f16: { kind: "f16", rows, cols, data: Uint16Array.from(values, toWeightHalf) }, f32: { kind: "f32", rows, cols, data: values } };
}

describe("f16 weight storage", () => {
  test("rounds as IEEE half does, stores every half exactly, and refuses |w| ≥ 64", () => {
    const rand = rng(12);
    const table = f16Table();
    const stored = weightHalfTable();
    for (let i = 0; i < 100000; i++) {
      // Magnitudes from 2^-30 to 2^6: subnormal halves, normal ones, and values that underflow to 0.
      const w = Math.fround(rand() * 2 ** (rand() * 36 - 30));
      assert.ok(Object.is(stored[toWeightHalf(w)], table[f32ToF16(w)]), `w = ${w}`);
      assert.equal(weightHalfOfBits(new Int32Array(Float32Array.of(w).buffer)[0]), toWeightHalf(w), `bits of w = ${w}`);
    }
    for (let h = 0; h < 65536; h++) {
      const v = table[h];
      if (Number.isFinite(v) && Math.abs(v) < 64) assert.ok(Object.is(stored[toWeightHalf(v)], v), `half 0x${h.toString(16)}`);
    }
    // Rounding up across a power of two: 2^-14 just below, and 64 just below (too large once rounded).
    for (const bits of [0x387fefff, 0x387ff000, 0x387ff001, 0x427fefff, 0xb87ff001 | 0]) {
      const w = new Float32Array(Int32Array.of(bits).buffer)[0];
      assert.equal(weightHalfOfBits(bits), toWeightHalf(w), `0x${bits.toString(16)}`);
    }
    assert.throws(() => weightHalfOfBits(0x427ff000), /weight 63\.984375 is too large for F16 storage, which holds \|w\| ≤ 63\.96875/);
    assert.throws(() => toWeightHalf(64), /weight 64 is too large for F16 storage/);
    assert.throws(() => toWeightHalf(-1e5), /too large for F16 storage/);
  });
});

describe("matmul f16", () => {
  test("gives the same bits as f32 over the widened weights, on every backend; odd shapes, subnormals", () => {
    const rand = rng(11);
    // Up to 3 x rows one weight row at a time; from 4, 2×4 blocks, with column panels past 1024.
    const shapes = [];
    for (const cols of [1, 3, 17, 33, 100]) for (const rows of [1, 5, 31]) for (const n of [1, 2, 3, 7]) shapes.push([n, rows, cols]);
    shapes.push([1, 67, 768], [2, 9, 1100], [9, 70, 771], [4, 64, 3072], [5, 22, 2101]);
    for (const [n, rows, cols] of shapes) {
      const { f16, f32 } = randomF16(rows, cols, rand);
      const x = random(n * cols, rand, 0.01);
      // Decode scales x by 2^102 unless some |x| ≥ 2^26: both ways must give the same bits.
      if (n === 1 && rows === 5) x[cols - 1] = 1e8;
      const bias = random(rows, rand);
      for (const withBias of [false, true]) {
        const b = withBias ? bias : null;
        const want = new Float32Array(n * rows);
        ref.matmul(want, x, f32, b, n);
        const refF16 = new Float32Array(n * rows);
        ref.matmul(refF16, x, f16, b, n);
        assertSameBits(refF16, bits(want), `reference f16 ${n}×${cols}·${rows}`);
        for (const { label, backend } of wasm) {
          const xs = onto(backend, x);
          const bs = b === null ? null : onto(backend, b);
          const got = backend.allocF32(n * rows);
          backend.matmul(got, xs, ontoMatrix(backend, f16), bs, n);
          const widened = backend.allocF32(n * rows);
          backend.matmul(widened, xs, ontoMatrix(backend, f32), bs, n);
          assertSameBits(got, bits(widened), `${label} f16 vs f32 ${n}×${cols}·${rows} bias=${withBias}`);
          assertClose(got, want, dotTol(want, absMatmul(x, f32, n)), `${label} f16 vs reference ${n}×${cols}·${rows}`);
        }
      }
    }
  });
});

describe("matmul f32", () => {
  test("matches the reference on odd shapes, with and without bias", () => {
    const rand = rng(1);
    for (const cols of [1, 3, 17, 33, 100]) {
      for (const rows of [1, 5, 31]) {
        for (const n of [1, 2, 3, 7]) {
          const w: Matrix = { kind: "f32", rows, cols, data: random(rows * cols, rand) };
          const x = random(n * cols, rand);
          const bias = random(rows, rand);
          for (const withBias of [false, true]) {
            const want = new Float32Array(n * rows);
            ref.matmul(want, x, w, withBias ? bias : null, n);
            for (const { label, backend } of wasm) {
              const out = backend.allocF32(n * rows);
              backend.matmul(out, onto(backend, x), ontoMatrix(backend, w), withBias ? onto(backend, bias) : null, n);
              assertClose(out, want, f32Tol(want), `${label} f32 ${n}×${cols}·${rows} bias=${withBias}`);
            }
          }
        }
      }
    }
  });

  test("large shapes (vector loops and the 2×4 blocks) stay within f32 accumulation error", () => {
    const rand = rng(2);
    // Up to 3 rows, two x rows per weight row; from 4, 2×4 blocks, over column panels past 1024.
    for (const [n, rows, cols] of [[1, 67, 768], [2, 9, 1100], [9, 70, 771], [4, 64, 3072], [5, 20, 2101]]) {
      const w: Matrix = { kind: "f32", rows, cols, data: random(rows * cols, rand) };
      const x = random(n * cols, rand);
      const bias = random(rows, rand);
      const want = new Float32Array(n * rows);
      ref.matmul(want, x, w, bias, n);
      const mag = absMatmul(x, w, n);
      for (const { label, backend } of wasm) {
        const out = backend.allocF32(n * rows);
        backend.matmul(out, onto(backend, x), ontoMatrix(backend, w), onto(backend, bias), n);
        assertClose(out, want, dotTol(want, mag), `${label} f32 ${n}×${cols}·${rows}`);
      }
    }
  });
});

describe("quantizeQ8", () => {
  test("per-block absmax scales, |w - q·scale| ≤ scale/2", () => {
    const rand = rng(3);
    const rows = 3, cols = 64;
    const src = random(rows * cols, rand, 2);
    src.fill(0, 32, 64); // an all-zero block
    const m = quantizeQ8(ref, src, rows, cols);
    assert.equal(m.kind, "q8");
    assert.equal(m.scales.length, (rows * cols) / Q8_BLOCK);
    assert.equal(m.scales[1], 0);
    for (let i = 0; i < src.length; i++) {
      const s = m.scales[Math.floor(i / Q8_BLOCK)];
      assert.ok(Math.abs(m.q[i]) <= 127);
      assert.ok(Math.abs(src[i] - m.q[i] * s) <= s / 2 + 1e-7, `element ${i}`);
    }
    const blockMax = Math.max(...Array.from(src.subarray(0, 32), Math.abs));
    assert.equal(Math.max(...Array.from(m.q.subarray(0, 32), Math.abs)), 127);
    assert.equal(m.scales[0], Math.fround(blockMax / 127));
  });

  test("rejects widths that are not a multiple of 32", () => {
    assert.throws(() => quantizeQ8(ref, new Float32Array(40), 2, 20), /multiple of 32/);
  });

  test("allocates on the given backend", () => {
    const m = quantizeQ8(wasm[0].backend, random(64, rng(4)), 2, 32);
    assert.ok(m.q.buffer instanceof SharedArrayBuffer);
  });
});

/**
 * Checkpoint values for the load-time conversions, with the awkward ones mixed in: an all-zero
 * block, ±0, denormals (a block of them has a denormal or zero scale), exact ties of the q8
 * rounding (k + 0.5 steps of a power-of-two scale), and for q8, q5 and f32 also NaN, ±inf and ±max.
 */
function checkpointValues(length: number, rand: () => number, dtype: WeightDType): Float32Array {
  const a = random(length, rand, 3);
  if (length >= 64) a.fill(0, 32, 64);
  const special = [0, -0, 1e-45, -3e-42, 1.17e-38, 127 / 128, -(5 + 0.5) / 128, (100 + 0.5) / 128, -(0.5 / 128),
    // Half rounding: ties between normal halves and between subnormal ones, the edge to the
    // normal range, the largest weight F16 storage takes.
    1 + 2 ** -11, -(1 + 3 * 2 ** -11), 2 ** -25, -3 * 2 ** -25, 2 ** -14 - 2 ** -25, 2 ** -14, 2 ** -24, 5e-8, 63.96875, -63.96875];
  const extreme = [NaN, Infinity, -Infinity, 3.4028234663852886e38, -3.4028234663852886e38];
  for (let i = 0; i < length; i++) {
    const u = rand();
    if (u > 0.9) a[i] = special[Math.floor((u - 0.9) * 1000) % special.length];
    else if (dtype !== "f16" && u < -0.995) a[i] = extreme[Math.floor((u + 1) * 1000) % extreme.length];
  }
  // A block of denormals only, and a block of ties against the scale 1/128 (its amax 127/128).
  if (length >= 128) for (let i = 64; i < 96; i++) a[i] = ((i % 7) - 3) * 1e-42;
  if (length >= 160) for (let i = 128; i < 160; i++) a[i] = i === 128 ? 127 / 128 : ((i % 255) - 127 + 0.5) / 128;
  return a;
}

function assertSameMatrix(got: Matrix, want: Matrix, what: string): void {
  assert.equal(got.kind, want.kind);
  if ((got.kind === "q8" && want.kind === "q8") || (got.kind === "q4" && want.kind === "q4")) {
    assert.deepEqual(Array.from(got.q), Array.from(want.q), `${what}: q`);
    // NaN scales compare equal whatever their payload bits.
    assert.deepEqual(Array.from(got.scales), Array.from(want.scales), `${what}: scales`);
  } else if (got.kind === "q5" && want.kind === "q5") {
    assert.deepEqual(Array.from(got.q), Array.from(want.q), `${what}: q`);
    assert.deepEqual(Array.from(got.qh), Array.from(want.qh), `${what}: qh`);
    assert.deepEqual(Array.from(got.scales), Array.from(want.scales), `${what}: scales`);
  } else if ((got.kind === "q4k" && want.kind === "q4k") || (got.kind === "q6k" && want.kind === "q6k")) {
    assert.deepEqual(Array.from(got.q), Array.from(want.q), `${what}: q`);
    assert.deepEqual(Array.from(got.subScales), Array.from(want.subScales), `${what}: subScales`);
    assert.deepEqual(Array.from(got.superScales), Array.from(want.superScales), `${what}: superScales`);
  } else if ((got.kind === "f32" || got.kind === "f16") && (want.kind === "f32" || want.kind === "f16")) {
    assert.deepEqual(Array.from(got.data), Array.from(want.data), `${what}: data`);
  }
}

describe("load-time conversion: writeMatrixRows / writeMatrixColumns", () => {
  // f32 and f16 rows need not be whole q8 blocks: their last Conv1D slice is then narrower (7, 13).
  const shapes = (dtype: WeightDType): [number, number][] => {
    const widths = dtype === "q8" || dtype === "q5" ? [32, 64, 160] : [32, 7, 45, 160];
    return [1, 2, 3, 4, 5, 7, 9, 33].flatMap((rows) => widths.map((cols): [number, number] => [rows, cols]));
  };
  for (const dtype of ["f32", "f16", "q8", "q5"] as const) {
    test(`${dtype}: every backend stores the reference's values, by rows and by columns`, () => {
      const rand = rng(41);
      const slices = (cols: number) => Array.from({ length: Math.ceil(cols / Q8_BLOCK) }, (_, k) => [k * Q8_BLOCK, Math.min(Q8_BLOCK, cols - k * Q8_BLOCK)]);
      for (const [rows, cols] of shapes(dtype)) {
        const values = checkpointValues(rows * cols, rand, dtype);
        const want = allocMatrix(ref, rows, cols, dtype);
        ref.writeMatrixRows(want, 0, onto(ref, values), rows);
        // Conv1D layout: the same matrix as (cols, rows), written 32 columns at a time.
        const transposed = new Float32Array(rows * cols);
        for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) transposed[c * rows + r] = values[r * cols + c];
        const wantT = allocMatrix(ref, rows, cols, dtype);
        for (const [c, n] of slices(cols)) ref.writeMatrixColumns(wantT, c, transposed.subarray(c * rows, (c + n) * rows), n);
        assertSameMatrix(wantT, want, `reference ${rows}×${cols} by columns`);
        for (const { label, backend } of wasm) {
          const got = allocMatrix(backend, rows, cols, dtype);
          // Rows in two calls, the second from a row offset.
          const split = Math.floor(rows / 2);
          const staging = onto(backend, values);
          backend.writeMatrixRows(got, 0, staging, split);
          backend.writeMatrixRows(got, split, onto(backend, values.subarray(split * cols)), rows - split);
          assertSameMatrix(got, want, `${label} ${dtype} ${rows}×${cols} by rows`);
          const gotT = allocMatrix(backend, rows, cols, dtype);
          for (const [c, n] of slices(cols)) backend.writeMatrixColumns(gotT, c, onto(backend, transposed.subarray(c * rows, (c + n) * rows)), n);
          assertSameMatrix(gotT, want, `${label} ${dtype} ${rows}×${cols} by columns`);
        }
      }
    });
  }

  test("f16: a weight too large for the storage is refused, naming it, on every backend", () => {
    for (const { label, backend } of [{ label: "reference", backend: ref }, ...wasm]) {
      for (const big of [64, -1e6, Infinity, NaN]) {
        const values = new Float32Array(5 * 32).fill(0.5);
        values[77] = big;
        const m = allocMatrix(backend, 5, 32, "f16");
        assert.throws(() => backend.writeMatrixRows(m, 0, onto(backend, values), 5), new RegExp(`weight ${big} is too large for F16 storage`), `${label} rows`);
        assert.throws(() => backend.writeMatrixColumns(m, 0, onto(backend, values), 32), new RegExp(`weight ${big} is too large for F16 storage`), `${label} columns`);
      }
    }
  });

  test("q8 by columns takes whole blocks, and the wasm backend converts only from its own memory", () => {
    const b = wasm[0].backend;
    const m = allocMatrix(b, 4, 64, "q8");
    assert.throws(() => b.writeMatrixColumns(m, 16, b.allocF32(32 * 4), 32), /one whole block/);
    assert.throws(() => b.writeMatrixColumns(m, 0, b.allocF32(16 * 4), 16), /one whole block/);
    assert.throws(() => b.writeMatrixRows(m, 0, new Float32Array(4 * 64), 4), /not in this wasm backend's memory/);
    assert.throws(() => b.writeMatrixRows(m, 3, b.allocF32(2 * 64), 2), /outside/);
  });
});

describe("matmul q8", () => {
  const shapes: [number, number, number][] = [];
  for (const cols of [32, 64, 96, 160, 288]) for (const rows of [1, 5, 31]) for (const n of [1, 2, 3, 7]) shapes.push([n, rows, cols]);
  shapes.push([1, 70, 768], [5, 33, 3072]);

  /**
   * With int8 activations each x is replaced by x̂ with |x - x̂| ≤ amax(its 32-block)/(2·top), top
   * being 127 (baseline) or 63 (relaxed, 7 bits), so an output moves by at most
   * Σ_c |w_c|·amax_c/(2·top) from the reference (which uses exact x).
   */
  function int8Bound(x: Float32Array, w: Matrix, n: number, top: number): Float32Array {
    if (w.kind !== "q8") throw new Error("q8 only");
    const bound = new Float32Array(n * w.rows);
    for (let i = 0; i < n; i++) {
      for (let r = 0; r < w.rows; r++) {
        let s = 0;
        for (let c = 0; c < w.cols; c++) {
          let amax = 0;
          const b0 = i * w.cols + Math.floor(c / Q8_BLOCK) * Q8_BLOCK;
          for (let j = 0; j < Q8_BLOCK; j++) amax = Math.max(amax, Math.abs(x[b0 + j]));
          s += Math.abs(w.q[r * w.cols + c] * w.scales[Math.floor((r * w.cols + c) / Q8_BLOCK)]) * (amax / (2 * top));
        }
        bound[i * w.rows + r] = s;
      }
    }
    return bound;
  }

  test("int8 activations: within the documented quantization bound", () => {
    const rand = rng(5);
    for (const [n, rows, cols] of shapes) {
      const w = quantizeQ8(ref, random(rows * cols, rand), rows, cols);
      const x = random(n * cols, rand);
      const bias = random(rows, rand);
      const bounds = new Map([127, 63].map((top) => [top, int8Bound(x, w, n, top)]));
      for (const withBias of [false, true]) {
        const want = new Float32Array(n * rows);
        ref.matmul(want, x, w, withBias ? bias : null, n);
        for (const { label, backend } of wasm) {
          const bound = bounds.get(int8Top(backend)) ?? [];
          const out = backend.allocF32(n * rows);
          backend.matmul(out, onto(backend, x), ontoMatrix(backend, w), withBias ? onto(backend, bias) : null, n);
          assertClose(out, want, (i) => 1.01 * bound[i] + 1e-5 * (1 + Math.abs(want[i])), `${label} q8 ${n}×${cols}·${rows} bias=${withBias}`);
        }
      }
    }
  });

  test("int8 activations: exact when x is already on the int8 grid", () => {
    // x = k·(amax/top) with integer k: quantizing x loses nothing, so only f32 rounding remains.
    const rand = rng(6);
    const [n, rows, cols] = [3, 9, 160];
    const w = quantizeQ8(ref, random(rows * cols, rand), rows, cols);
    const onGrid = (top: number) => {
      const x = new Float32Array(n * cols);
      for (let i = 0; i < x.length; i++) x[i] = i % Q8_BLOCK === 0 ? top : Math.round(rand() * top);
      const want = new Float32Array(n * rows);
      ref.matmul(want, x, w, null, n);
      return { x, want };
    };
    const grids = new Map([127, 63].map((top) => [top, onGrid(top)]));
    for (const { label, backend } of wasm) {
      const { x, want } = grids.get(int8Top(backend)) ?? onGrid(0);
      const out = backend.allocF32(n * rows);
      backend.matmul(out, onto(backend, x), ontoMatrix(backend, w), null, n);
      assertClose(out, want, f32Tol(want), `${label} q8 on-grid`);
    }
  });

  test("f32 activations: f32 accuracy", () => {
    const rand = rng(7);
    for (const [n, rows, cols] of shapes) {
      const w = quantizeQ8(ref, random(rows * cols, rand), rows, cols);
      const x = random(n * cols, rand);
      const bias = random(rows, rand);
      const want = new Float32Array(n * rows);
      ref.matmul(want, x, w, bias, n);
      for (const { label, backend } of wasmF32Acts) {
        const out = backend.allocF32(n * rows);
        backend.matmul(out, onto(backend, x), ontoMatrix(backend, w), onto(backend, bias), n);
        assertClose(out, want, f32Tol(want), `${label} q8 ${n}×${cols}·${rows}`);
      }
    }
  });

  test("rejects cols that are not a multiple of 32", () => {
    const b = wasm[0].backend;
    const w: Matrix = { kind: "q8", rows: 1, cols: 20, q: b.allocI8(20), scales: b.allocF32(1) };
    assert.throws(() => b.matmul(b.allocF32(1), b.allocF32(20), w, null, 1), /multiple of 32/);
  });
});

describe("layerNorm", () => {
  test("matches the reference", () => {
    const rand = rng(8);
    for (const d of [1, 3, 17, 100, 768]) {
      for (const n of [1, 3, 7]) {
        // An offset and a few large features, like GPT-2's residual stream.
        const x = random(n * d, rand, 3);
        for (let i = 0; i < x.length; i += 37) x[i] += 300;
        const weight = random(d, rand);
        const bias = random(d, rand);
        const want = new Float32Array(n * d);
        ref.layerNorm(want, x, weight, bias, n, d, 1e-5);
        for (const { label, backend } of wasm) {
          const out = backend.allocF32(n * d);
          backend.layerNorm(out, onto(backend, x), onto(backend, weight), onto(backend, bias), n, d, 1e-5);
          assertClose(out, want, f32Tol(want), `${label} layerNorm ${n}×${d}`);
        }
      }
    }
  });
});

describe("gelu", () => {
  // The reference computes 0.5·v·(1 + tanh(u)) in f64, which itself cancels to 0 for v < -6:
  // 1e-15 absorbs that; everywhere else the bound is relative.
  const geluTol = (want: Float32Array) => (i: number) => 1e-6 * Math.abs(want[i]) + 1e-15;

  test("matches the reference within 1e-6 relative", () => {
    const rand = rng(9);
    for (const length of [1, 3, 17, 100, 5000]) {
      const x = random(length, rand, 8);
      const want = x.slice();
      ref.gelu(want, length);
      for (const { label, backend } of wasm) {
        const y = onto(backend, x);
        backend.gelu(y, length);
        assertClose(y, want, geluTol(want), `${label} gelu ${length}`);
      }
    }
  });

  test("dense sweep over [-12, 12] plus extremes", () => {
    const values: number[] = [0, -0, 1e-30, -1e-30, 1e-6, -1e-6, 50, -50, 100, -100, 1e30, -1e30];
    for (let i = 0; i <= 200_000; i++) values.push(-12 + (24 * i) / 200_000);
    const x = Float32Array.from(values);
    const want = x.slice();
    ref.gelu(want, x.length);
    const b = wasm[0].backend;
    const y = onto(b, x);
    b.gelu(y, y.length);
    assertClose(y, want, geluTol(want), "gelu sweep");
  });

  test("leaves elements past length alone", () => {
    const b = wasm[1].backend;
    const y = onto(b, Float32Array.from([1, 2, 3, 4, 5, 6]));
    b.gelu(y, 5);
    assert.equal(y[5], 6);
  });
});

describe("addInPlace", () => {
  test("matches the reference", () => {
    const rand = rng(10);
    for (const length of [1, 3, 17, 100, 1000]) {
      const x = random(length + 1, rand);
      const y = random(length + 1, rand);
      const want = x.slice();
      ref.addInPlace(want, y, length);
      for (const { label, backend } of wasm) {
        const got = onto(backend, x);
        backend.addInPlace(got, onto(backend, y), length);
        assertClose(got, want, () => 0, `${label} add ${length}`);
      }
    }
  });
});

/** The reference backend and every wasm one, for kernels the reference itself is checked in. */
function everyBackend(): Wasm[] {
  return [{ label: "reference", backend: ref }, ...wasm];
}

describe("rmsNorm", () => {
  /** x / sqrt(mean(x²) + eps) * weight in f64. */
  function naiveRmsNorm(x: Float32Array, weight: Float32Array, n: number, d: number, eps: number): Float32Array {
    const out = new Float32Array(n * d);
    for (let i = 0; i < n; i++) {
      let squares = 0;
      for (let j = 0; j < d; j++) squares += x[i * d + j] ** 2;
      const inv = 1 / Math.sqrt(squares / d + eps);
      for (let j = 0; j < d; j++) out[i * d + j] = x[i * d + j] * inv * weight[j];
    }
    return out;
  }

  test("matches an f64 computation, out of place and in place; per head as Qwen3's q_norm", () => {
    const rand = rng(50);
    // 128 with n = tokens · heads is Qwen3's per-head norm; 1 and 3 are all tail.
    for (const d of [1, 3, 17, 64, 128, 1000]) {
      for (const n of [1, 3, 7, 12]) {
        for (const eps of [1e-6, 1e-5]) {
          // A few large features, as in a residual stream.
          const x = random(n * d, rand, 3);
          for (let i = 0; i < x.length; i += 37) x[i] += 300;
          const weight = random(d, rand, 2);
          const want = naiveRmsNorm(x, weight, n, d, eps);
          for (const { label, backend } of everyBackend()) {
            const what = `${label} rmsNorm ${n}×${d} eps ${eps}`;
            const out = backend.allocF32(n * d + 1);
            out[n * d] = 42;
            backend.rmsNorm(out, onto(backend, x), onto(backend, weight), n, d, eps);
            assertClose(out.subarray(0, n * d), want, f32Tol(want), what);
            assert.equal(out[n * d], 42, `${what}: past the end`);
            const inPlace = onto(backend, x);
            backend.rmsNorm(inPlace, inPlace, onto(backend, weight), n, d, eps);
            assertSameBits(inPlace, bits(out.subarray(0, n * d)), `${what} in place`);
          }
        }
      }
    }
  });

  test("a zero row gives zeros, not NaN (eps keeps the root positive)", () => {
    for (const { label, backend } of everyBackend()) {
      const out = backend.allocF32(5);
      backend.rmsNorm(out, backend.allocF32(5), onto(backend, Float32Array.from([1, 2, 3, 4, 5])), 1, 5, 1e-6);
      assert.deepEqual(Array.from(out), [0, 0, 0, 0, 0], label);
    }
  });
});

describe("rope", () => {
  const ROPE_THETA = 10000;

  /** cos and sin tables (maxPositions, headDim / 2) as a caller makes them: angle p · θ^(−2j / headDim). */
  function ropeTables(b: Backend, maxPositions: number, headDim: number): { cos: Float32Array; sin: Float32Array } {
    const half = headDim / 2;
    const cos = b.allocF32(maxPositions * half), sin = b.allocF32(maxPositions * half);
    for (let p = 0; p < maxPositions; p++) {
      for (let j = 0; j < half; j++) {
        const angle = p * ROPE_THETA ** ((-2 * j) / headDim);
        cos[p * half + j] = Math.cos(angle);
        sin[p * half + j] = Math.sin(angle);
      }
    }
    return { cos, sin };
  }

  /** The rotation in f64 from the f32 inputs. */
  function naiveRope(x: Float32Array, n: number, nHeads: number, headDim: number, positions: Int32Array, cos: Float32Array, sin: Float32Array): Float32Array {
    const half = headDim / 2;
    const out = x.slice();
    for (let i = 0; i < n; i++) {
      for (let h = 0; h < nHeads; h++) {
        const off = (i * nHeads + h) * headDim;
        for (let j = 0; j < half; j++) {
          const [a, b] = [x[off + j], x[off + half + j]];
          const [c, s] = [cos[positions[i] * half + j], sin[positions[i] * half + j]];
          out[off + j] = a * c - b * s;
          out[off + half + j] = b * c + a * s;
        }
      }
    }
    return out;
  }

  test("matches an f64 rotation on odd head counts, every tail, positions in any order", () => {
    const rand = rng(51);
    const maxPositions = 300;
    // Halves of 1, 3, 5 (all tail or a vector and a tail), 4, 32 and 64 (vectors only).
    for (const headDim of [2, 6, 8, 10, 64, 128]) {
      for (const nHeads of [1, 3, 5]) {
        for (const n of [1, 2, 7]) {
          const x = random(n * nHeads * headDim + 1, rand, 4); // one more: it must not move
          const positions = Int32Array.from({ length: n + 1 }, () => Math.floor(((rand() + 1) / 2) * maxPositions));
          positions[0] = n > 1 ? maxPositions - 1 : 0;
          for (const { label, backend } of everyBackend()) {
            const { cos, sin } = ropeTables(backend, maxPositions, headDim);
            const want = naiveRope(x, n, nHeads, headDim, positions, cos, sin);
            const got = onto(backend, x);
            backend.rope(got, n, nHeads, headDim, positions, cos, sin);
            assertClose(got, want, f32Tol(want), `${label} rope ${n}×${nHeads}×${headDim}`);
          }
        }
      }
    }
  });

  test("position 0 leaves x as it is", () => {
    for (const { label, backend } of everyBackend()) {
      const { cos, sin } = ropeTables(backend, 4, 10);
      const x = random(3 * 10, rng(52));
      const got = onto(backend, x);
      backend.rope(got, 1, 3, 10, Int32Array.of(0), cos, sin);
      assertSameBits(got, bits(x), label);
    }
  });

  test("the wasm backend rejects positions outside the tables and odd head sizes", () => {
    const b = wasm[0].backend;
    const { cos, sin } = ropeTables(b, 8, 4);
    const x = b.allocF32(2 * 4);
    assert.throws(() => b.rope(x, 2, 1, 4, Int32Array.of(3, 8), cos, sin), /rope: position 8 of token 1 outside the tables' 8 positions/);
    assert.throws(() => b.rope(x, 2, 1, 4, Int32Array.of(-1, 0), cos, sin), /rope: position -1 of token 0/);
    assert.throws(() => b.rope(x, 2, 1, 4, Int32Array.of(3), cos, sin), /rope: 2 tokens, 1 positions/);
    assert.throws(() => b.rope(x, 1, 1, 3, Int32Array.of(0), cos, sin), /rope: headDim 3 is not a positive even number/);
    assert.throws(() => b.rope(x, 1, -1, 4, Int32Array.of(0), cos, sin), /rope: nHeads -1 is not a head count/);
    assert.throws(() => b.rope(x, 3, 1, 4, Int32Array.of(0, 0, 0), cos, sin), /rope x: length 8 < 12 needed/);
  });
});

describe("siluMul", () => {
  /** silu(gate) · up in f64 for rows [gate | up] of gateUp. */
  function naiveSiluMul(gateUp: Float32Array, n: number, d: number): Float32Array {
    const out = new Float32Array(n * d);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < d; j++) {
        const g = gateUp[2 * i * d + j];
        out[i * d + j] = (g / (1 + Math.exp(-g))) * gateUp[2 * i * d + d + j];
      }
    }
    return out;
  }

  /** Random rows [gate | up], the gates with extremes mixed in (past exp's range both ways, ±0). */
  function gateUpRows(n: number, d: number, rand: () => number): Float32Array {
    const extremes = [0, -0, 100, -100, 88.5, -88.5, 30, -30];
    const a = random(2 * n * d, rand, 8);
    for (let i = 0; i < n; i++) for (let j = 0; j < d; j += 7) a[2 * i * d + j] = extremes[(i + j) % extremes.length];
    return a;
  }

  test("matches an f64 computation; in place over gateUp's first rows gives the same bits", () => {
    const rand = rng(53);
    for (const d of [1, 3, 4, 17, 64, 1000]) {
      for (const n of [1, 2, 3, 7]) {
        const gateUp = gateUpRows(n, d, rand);
        const want = naiveSiluMul(gateUp, n, d);
        for (const { label, backend } of everyBackend()) {
          const what = `${label} siluMul ${n}×${d}`;
          const out = backend.allocF32(n * d + 1);
          out[n * d] = 42;
          backend.siluMul(out, onto(backend, gateUp), n, d);
          assertClose(out.subarray(0, n * d), want, f32Tol(want), what);
          assert.equal(out[n * d], 42, `${what}: past the end`);
          const shared = onto(backend, gateUp);
          backend.siluMul(shared.subarray(0, n * d), shared, n, d);
          assertSameBits(shared.subarray(0, n * d), bits(out.subarray(0, n * d)), `${what} in place`);
        }
      }
    }
  });

  test("in place stays safe where threads would otherwise split the rows", () => {
    // Large enough that the default split shares it out when out is its own buffer.
    const [n, d] = [64, 512];
    const gateUp = gateUpRows(n, d, rng(54));
    const want = naiveSiluMul(gateUp, n, d);
    for (const { label, backend } of wasm) {
      const shared = onto(backend, gateUp);
      backend.siluMul(shared.subarray(0, n * d), shared, n, d);
      assertClose(shared.subarray(0, n * d), want, f32Tol(want), `${label} siluMul in place ${n}×${d}`);
    }
  });

  test("the wasm backend refuses out overlapping gateUp anywhere but at its start", () => {
    const b = wasm[1].backend;
    const gateUp = b.allocF32(2 * 3 * 8);
    assert.throws(() => b.siluMul(gateUp.subarray(8, 8 + 3 * 8), gateUp, 3, 8), /siluMul: out overlaps gateUp other than at its start/);
  });
});

describe("readSum (the read probe bench times the decode ceiling with)", () => {
  const probes: { label: string; probe: ReadProbe }[] = [];
  before(async () => {
    probes.push({ label: "reference", probe: await createReadProbe("reference", 1) });
    for (const threads of [1, 2, 3]) probes.push({ label: `wasm, ${threads} threads`, probe: await createReadProbe("wasm", threads) });
  });
  after(() => probes.forEach(({ probe }) => probe.close()));

  test("sums the little-endian words, wrapping, a last partial word zero-padded", () => {
    for (const { label, probe } of probes) {
      assert.equal(probe.readSum(probe.copy(Int8Array.from([1, 0, 0, 0, 2, 0, 0, 0, 3]))), 6, label);
      const words = new Float32Array(3);
      new Uint32Array(words.buffer).set([0xffffffff, 2, 0x80000000]);
      assert.equal(probe.readSum(probe.copy(words)), 0x80000001, `${label} wraps`);
      assert.equal(probe.readSum(probe.copy(Uint16Array.from([0x0201, 0x0403, 0x0605]))), 0x04030201 + 0x0605, `${label} halves`);
      assert.equal(probe.readSum(probe.filled(9)), 0x01010101 * 2 + 1, `${label} filled`);
    }
  });

  test("every probe reads every byte: the reference's sum on odd sizes and every kind of array", () => {
    const rand = rng(12);
    for (const length of [0, 1, 3, 5, 15, 63, 64, 65, 127, 1001, 4097, 100_003]) {
      const src = Int8Array.from({ length }, () => Math.floor(rand() * 128));
      const want = referenceReadSum(src);
      const wantF32 = referenceReadSum(random(length, rand));
      const halves = new Uint16Array(src.buffer, 0, length >> 1);
      for (const { label, probe } of probes) {
        assert.equal(probe.readSum(probe.copy(src)), want, `${label} int8 ${length}`);
        assert.equal(probe.readSum(probe.copy(halves)), referenceReadSum(halves), `${label} u16 ${length >> 1}`);
      }
      // Different data must give a different sum here, or the assertions above prove nothing.
      if (length > 0) assert.notEqual(want, wantF32);
    }
  });

  test("a wasm probe refuses an array outside its memory", () => {
    for (const { label, probe } of probes.filter((p) => p.label.startsWith("wasm"))) {
      assert.throws(() => probe.readSum(new Int8Array(8)), /readSum data: array is not in this wasm backend's memory/, label);
    }
  });
});

describe("attention", () => {
  interface Case {
    readonly nHead: number;
    /** Grouped-query attention's cached heads; nHead (multi-head attention) when left out. */
    readonly nKVHead?: number;
    readonly headDim: number;
    readonly pos: number;
    readonly t: number;
    readonly blockSize: number;
  }

  /** A pool whose blocks are used in shuffled order; every cached position gets random k, v. */
  function makeKv(c: Case, rand: () => number, poolBlocks: number): { k: Float32Array; v: Float32Array; table: Int32Array } {
    const width = (c.nKVHead ?? c.nHead) * c.headDim;
    const used = Math.ceil((c.pos + c.t) / c.blockSize);
    const order = Array.from({ length: poolBlocks }, (_, i) => i);
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(((rand() + 1) / 2) * (i + 1));
      [order[i], order[j]] = [order[j], order[i]];
    }
    const table = Int32Array.from(order.slice(0, used));
    return { k: random(poolBlocks * c.blockSize * width, rand), v: random(poolBlocks * c.blockSize * width, rand), table };
  }

  /**
   * With `storage` f16 the cache holds halves: the reference must give the bits it gives over
   * their f32 values, and so must every wasm backend (widening is exact, the arithmetic the same).
   */
  function check(c: Case, poolBlocks: number, seed: number, tableInMemory: boolean, storage: KVStorage = "f32", bigQ = false): void {
    const rand = rng(seed);
    const width = c.nHead * c.headDim;
    const nKVHead = c.nKVHead ?? c.nHead;
    const kv32 = makeKv(c, rand, poolBlocks);
    const { table } = kv32;
    const kh = storage === "f16" ? kvHalves(kv32.k) : null, vh = storage === "f16" ? kvHalves(kv32.v) : null;
    const k = kh === null ? kv32.k : widenHalves(kh), v = vh === null ? kv32.v : widenHalves(vh);
    const q = random(c.t * width, rand, 2);
    // A query too large to scale by 2^112: the kernel reads the halves widened instead.
    if (bigQ) q[0] = 70000;
    const want = new Float32Array(c.t * width);
    ref.attention(want, q, 0, { k, v, blockTable: table, blockSize: c.blockSize }, c.pos, c.t, c.nHead, nKVHead, c.headDim, new Float32Array(c.nHead * (c.pos + c.t)));
    if (kh !== null && vh !== null) {
      const fromHalves = new Float32Array(c.t * width);
      ref.attention(fromHalves, q, 0, { k: kh, v: vh, blockTable: table, blockSize: c.blockSize }, c.pos, c.t, c.nHead, nKVHead, c.headDim, new Float32Array(c.nHead * (c.pos + c.t)));
      assertSameBits(fromHalves, bits(want), `reference attention over halves ${JSON.stringify(c)}`);
    }
    if (nKVHead !== c.nHead) {
      // Grouped heads are multi-head attention over a cache whose heads are repeated (HF's repeat_kv).
      const full = new Float32Array(c.t * width);
      const kvFull = { k: repeatKv(k, nKVHead, c.nHead, c.headDim), v: repeatKv(v, nKVHead, c.nHead, c.headDim), blockTable: table, blockSize: c.blockSize };
      ref.attention(full, q, 0, kvFull, c.pos, c.t, c.nHead, c.nHead, c.headDim, new Float32Array(c.nHead * (c.pos + c.t)));
      assertSameBits(want, bits(full), `reference grouped attention vs repeated heads ${JSON.stringify(c)}`);
    }
    assertClose(want, naiveAttention(q, k, v, table, c.blockSize, c.pos, c.t, c.nHead, nKVHead, c.headDim), f32Tol(want), `reference attention vs f64 ${JSON.stringify(c)}`);
    // The sequence's rows sit at `lead` in buffers of other rows, as in a batch: only its rows
    // of out change.
    const lead = seed % 3;
    const rows = lead + c.t + 1;
    const qInBatch = random(rows * width, rand);
    qInBatch.set(q, lead * width);
    const sentinel = random(rows * width, rand);
    const wantInBatch = sentinel.slice();
    wantInBatch.set(want, lead * width);
    const refInBatch = sentinel.slice();
    ref.attention(refInBatch, qInBatch, lead, { k, v, blockTable: table, blockSize: c.blockSize }, c.pos, c.t, c.nHead, nKVHead, c.headDim, new Float32Array(c.nHead * (c.pos + c.t)));
    assert.deepEqual(refInBatch, wantInBatch, `reference attention at row ${lead} ${JSON.stringify(c)}`);
    for (const { label, backend } of wasm) {
      let blockTable = table;
      if (tableInMemory) {
        const f = backend.allocF32(table.length);
        blockTable = new Int32Array(f.buffer, f.byteOffset, table.length);
        blockTable.set(table);
      }
      const kv: KVView = { k: onto(backend, k), v: onto(backend, v), blockTable, blockSize: c.blockSize };
      const out = onto(backend, sentinel);
      backend.attention(out, onto(backend, qInBatch), lead, kv, c.pos, c.t, c.nHead, nKVHead, c.headDim, backend.allocF32(c.nHead * (c.pos + c.t)));
      assertClose(out, wantInBatch, f32Tol(wantInBatch), `${label} attention at row ${lead} ${JSON.stringify(c)}`);
      if (kh !== null && vh !== null) {
        const halves = onto(backend, sentinel);
        const kvh: KVView = { ...kv, k: ontoHalves(backend, kh), v: ontoHalves(backend, vh) };
        backend.attention(halves, onto(backend, qInBatch), lead, kvh, c.pos, c.t, c.nHead, nKVHead, c.headDim, backend.allocF32(c.nHead * (c.pos + c.t)));
        assertSameBits(halves, bits(out), `${label} attention over halves at row ${lead} ${JSON.stringify(c)}`);
      }
      if (nKVHead !== c.nHead) {
        // Grouping changes which cache head is read, never the arithmetic: the same bits as
        // multi-head attention over the repeated heads.
        const kvFull: KVView = { ...kv, k: onto(backend, repeatKv(k, nKVHead, c.nHead, c.headDim)), v: onto(backend, repeatKv(v, nKVHead, c.nHead, c.headDim)) };
        const full = onto(backend, sentinel);
        backend.attention(full, onto(backend, qInBatch), lead, kvFull, c.pos, c.t, c.nHead, c.nHead, c.headDim, backend.allocF32(c.nHead * (c.pos + c.t)));
        assertSameBits(out, bits(full), `${label} grouped attention vs repeated heads ${JSON.stringify(c)}`);
      }
    }
  }

  test("static layout: one block per sequence", () => {
    let seed = 100;
    for (const nHead of [1, 3]) for (const headDim of [1, 5, 16, 64]) for (const [pos, t] of [[0, 1], [0, 4], [5, 1], [6, 3], [30, 2]]) {
      check({ nHead, headDim, pos, t, blockSize: 40 }, 1, seed++, false);
    }
  });

  test("paged layout: blocks of 4 in shuffled order", () => {
    let seed = 200;
    for (const nHead of [1, 3, 12]) for (const headDim of [3, 8, 64]) for (const [pos, t] of [[0, 1], [0, 6], [3, 1], [5, 4], [13, 3], [33, 1]]) {
      check({ nHead, headDim, pos, t, blockSize: 4 }, 12, seed++, seed % 2 === 0);
    }
  });

  test("decode over long caches: many position chunks merged", () => {
    check({ nHead: 12, headDim: 64, pos: 300, t: 1, blockSize: 512 }, 1, 300, false);
    check({ nHead: 4, headDim: 20, pos: 201, t: 1, blockSize: 4 }, 64, 301, false);
    check({ nHead: 2, headDim: 7, pos: 150, t: 1, blockSize: 16 }, 12, 302, true);
  });

  // Llama 3 groups 32 query heads on 8, Qwen2.5 e.g. 14 on 2: ratios 1, 2, 3 and 4 here, and
  // odd head counts so that threads' head ranges start mid-group.
  const groupings: [number, number][] = [[6, 6], [6, 2], [9, 3], [6, 3], [8, 2], [4, 1]];

  test("grouped-query attention: paged blocks of 16, prefill chunks after cached positions", () => {
    let seed = 500;
    for (const [nHead, nKVHead] of groupings) for (const headDim of [8, 10, 64]) for (const [pos, t] of [[0, 5], [7, 4], [16, 17], [40, 9], [35, 1]]) {
      check({ nHead, nKVHead, headDim, pos, t, blockSize: 16 }, 8, seed++, seed % 2 === 0);
    }
  });

  test("grouped-query attention: static layout, one block per sequence", () => {
    let seed = 600;
    for (const [nHead, nKVHead] of groupings) for (const headDim of [6, 128]) for (const [pos, t] of [[0, 3], [12, 6], [70, 1]]) {
      check({ nHead, nKVHead, headDim, pos, t, blockSize: 128 }, 1, seed++, false);
    }
  });

  test("f16 cache: static and paged layouts, odd head dims, prefill and decode", () => {
    let seed = 700;
    for (const nHead of [1, 3]) for (const headDim of [1, 5, 16, 64]) for (const [pos, t] of [[0, 1], [0, 4], [6, 3], [30, 2]]) {
      check({ nHead, headDim, pos, t, blockSize: 40 }, 1, seed++, false, "f16");
    }
    for (const nHead of [3, 12]) for (const headDim of [3, 8, 64]) for (const [pos, t] of [[0, 6], [5, 4], [13, 3], [33, 1]]) {
      check({ nHead, headDim, pos, t, blockSize: 4 }, 12, seed++, seed % 2 === 0, "f16");
    }
    check({ nHead: 12, headDim: 64, pos: 300, t: 1, blockSize: 512 }, 1, seed++, false, "f16");
    check({ nHead: 2, headDim: 7, pos: 150, t: 1, blockSize: 16 }, 12, seed++, true, "f16");
  });

  test("f16 cache with a query too large to scale: keys widened as read, the same bits", () => {
    let seed = 900;
    for (const [nHead, nKVHead] of [[3, 3], [6, 2]]) for (const headDim of [5, 16, 64]) for (const [pos, t] of [[0, 1], [0, 4], [33, 1], [30, 5]]) {
      check({ nHead, nKVHead, headDim, pos, t, blockSize: 4 }, 16, seed++, false, "f16", true);
    }
  });

  test("f16 cache, grouped-query attention: paged and static", () => {
    let seed = 800;
    for (const [nHead, nKVHead] of groupings) for (const headDim of [10, 64]) for (const [pos, t] of [[0, 5], [16, 17], [35, 1]]) {
      check({ nHead, nKVHead, headDim, pos, t, blockSize: 16 }, 8, seed++, seed % 2 === 0, "f16");
    }
    for (const [nHead, nKVHead] of groupings) check({ nHead, nKVHead, headDim: 6, pos: 12, t: 6, blockSize: 128 }, 1, seed++, false, "f16");
  });

  test("f16 cache: every half widens to its own value (vector lanes and scalar tails)", () => {
    // One cached position: attention's output is its value row, times weight 1 and 1 / 1.
    const table = f16Table();
    const expect = (got: Float32Array, halves: Uint16Array, what: string) => {
      for (let i = 0; i < halves.length; i++) {
        const want = table[halves[i]];
        if (!(Number.isNaN(want) ? Number.isNaN(got[i]) : got[i] === want)) assert.fail(`${what}: half 0x${halves[i].toString(16)} gave ${got[i]}, want ${want}`);
      }
    };
    // Every finite half: the cache never holds inf or NaN (copyToKV refuses them).
    const all = Uint16Array.from({ length: 65536 }, (_, h) => h).filter((h) => (h & 0x7c00) !== 0x7c00);
    for (const { label, backend: b } of wasm) {
      const headDim = 4096;
      const q = b.allocF32(headDim), out = b.allocF32(headDim), k = b.allocU16(headDim), v = b.allocU16(headDim);
      for (let s = 0; s < all.length; s += headDim) {
        v.fill(0);
        v.set(all.subarray(s, s + headDim));
        b.attention(out, q, 0, { k, v, blockTable: Int32Array.of(0), blockSize: 1 }, 0, 1, 1, 1, headDim, b.allocF32(1));
        expect(out, v.subarray(0, Math.min(headDim, all.length - s)), `${label} vector lanes`);
      }
    }
    const b = wasm[0].backend;
    const q = b.allocF32(3), out = b.allocF32(3), k = b.allocU16(3), v = b.allocU16(3);
    for (let s = 0; s < all.length; s += 3) {
      const part = all.subarray(s, Math.min(s + 3, all.length));
      v.fill(0);
      v.set(part);
      b.attention(out, q, 0, { k, v, blockTable: Int32Array.of(0), blockSize: 1 }, 0, 1, 1, 1, 3, b.allocF32(1));
      expect(out.subarray(0, part.length), part, "scalar tail");
    }
  });

  test("rejects a cache whose keys and values are stored differently", () => {
    const b = wasm[0].backend;
    const kv: KVView = { k: b.allocU16(32), v: b.allocF32(32), blockTable: Int32Array.from([0]), blockSize: 4 };
    assert.throws(() => b.attention(b.allocF32(16), b.allocF32(16), 0, kv, 0, 2, 2, 2, 4, b.allocF32(4)), /kv.k and kv.v are stored differently/);
    assert.throws(() => b.attentionDecode(b.allocF32(8), b.allocF32(8), 0, [kv], Int32Array.of(1), 1, 2, 2, 4), /kv.k and kv.v are stored differently/);
    const f32kv: KVView = { ...kv, v: b.allocU16(32), k: b.allocF32(32) };
    const f16kv: KVView = { ...kv, v: b.allocU16(32), k: b.allocU16(32) };
    assert.throws(() => b.attentionDecode(b.allocF32(16), b.allocF32(16), 0, [{ ...f32kv, v: f32kv.k }, f16kv], Int32Array.of(1, 1), 2, 2, 2, 4), /sequence 1's cache is not stored as sequence 0's is/);
  });

  test("rejects key/value heads that do not divide the query heads", () => {
    const kv: KVView = { k: new Float32Array(64), v: new Float32Array(64), blockTable: Int32Array.from([0]), blockSize: 4 };
    for (const { label, backend: b } of [{ label: "reference", backend: ref }, ...wasm]) {
      const bkv: KVView = b === ref ? kv : { ...kv, k: b.allocF32(64), v: b.allocF32(64) };
      for (const [nHead, nKVHead] of [[6, 4], [2, 3], [2, 0]]) {
        const [out, q] = [b.allocF32(2 * nHead * 4), b.allocF32(2 * nHead * 4)];
        const why = new RegExp(`${nHead} query heads cannot share ${nKVHead} key/value heads`);
        assert.throws(() => b.attention(out, q, 0, bkv, 0, 2, nHead, nKVHead, 4, b.allocF32(2 * nHead)), why, `${label} attention`);
        assert.throws(() => b.attentionDecode(out, q, 0, [bkv], Int32Array.of(1), 1, nHead, nKVHead, 4), why, `${label} attentionDecode`);
      }
    }
  });

  test("rejects a block table entry outside the pool", () => {
    const b = wasm[0].backend;
    const kv: KVView = { k: b.allocF32(32), v: b.allocF32(32), blockTable: Int32Array.from([0, 9]), blockSize: 4 };
    assert.throws(() => b.attention(b.allocF32(8), b.allocF32(8), 0, kv, 4, 1, 2, 2, 4, b.allocF32(16)), /outside the pool/);
  });

  /**
   * A batched decode step: `positions.length` sequences with their own tables in one shared pool
   * (shuffled blocks of `blockSize`, 4 unless given, some tables in the shared memory, some not),
   * their rows at `lead` of q and out. Every backend must give each sequence the bits its own
   * `attention` call gives it, leave the other rows alone, and match the reference.
   */
  function checkDecodeBatch(nHead: number, headDim: number, positions: number[], lead: number, seed: number, nKVHead = nHead, blockSize = 4, storage: KVStorage = "f32"): void {
    const rand = rng(seed);
    const width = nHead * headDim, kvWidth = nKVHead * headDim, count = positions.length;
    const used = positions.map((p) => Math.ceil((p + 1) / blockSize));
    const poolBlocks = used.reduce((s, u) => s + u, 0) + 3;
    const order = Array.from({ length: poolBlocks }, (_, i) => i);
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(((rand() + 1) / 2) * (i + 1));
      [order[i], order[j]] = [order[j], order[i]];
    }
    let next = 0;
    const tables = used.map((u) => Int32Array.from(order.slice(next, (next += u))));
    const k32 = random(poolBlocks * blockSize * kvWidth, rand), v32 = random(poolBlocks * blockSize * kvWidth, rand);
    const kh = storage === "f16" ? kvHalves(k32) : null, vh = storage === "f16" ? kvHalves(v32) : null;
    const k = kh === null ? k32 : widenHalves(kh), v = vh === null ? v32 : widenHalves(vh);
    const rows = lead + count + 1;
    const q = random(rows * width, rand, 2);
    const sentinel = random(rows * width, rand);
    const pos = Int32Array.from(positions);
    const refOut = sentinel.slice();
    ref.attentionDecode(refOut, q, lead, tables.map((t) => ({ k, v, blockTable: t, blockSize })), pos, count, nHead, nKVHead, headDim);
    const what = `batched decode attention ${JSON.stringify({ nHead, nKVHead, headDim, blockSize, positions, lead })}`;
    positions.forEach((p, i) => {
      const want = naiveAttention(q.subarray((lead + i) * width, (lead + i + 1) * width), k, v, tables[i], blockSize, p, 1, nHead, nKVHead, headDim);
      assertClose(refOut.subarray((lead + i) * width, (lead + i + 1) * width), want, f32Tol(want), `reference ${what}: sequence ${i} vs f64`);
    });
    for (const { label, backend } of wasm) {
      const kb = onto(backend, k), vb = onto(backend, v), qb = onto(backend, q);
      const kvs: KVView[] = tables.map((t, i) => {
        if (i % 2 === 0) return { k: kb, v: vb, blockTable: t, blockSize };
        const f = backend.allocF32(t.length); // this one's table in the shared memory
        const inMemory = new Int32Array(f.buffer, f.byteOffset, t.length);
        inMemory.set(t);
        return { k: kb, v: vb, blockTable: inMemory, blockSize };
      });
      const alone = onto(backend, sentinel);
      for (let i = 0; i < count; i++) backend.attention(alone, qb, lead + i, kvs[i], positions[i], 1, nHead, nKVHead, headDim, backend.allocF32(nHead * (positions[i] + 1)));
      const out = onto(backend, sentinel);
      backend.attentionDecode(out, qb, lead, kvs, pos, count, nHead, nKVHead, headDim);
      assertSameBits(out, bits(alone), `${label} ${what}: each sequence as alone`);
      assertClose(out, refOut, f32Tol(refOut), `${label} ${what}: against the reference`);
      if (kh !== null && vh !== null) {
        const khb = ontoHalves(backend, kh), vhb = ontoHalves(backend, vh);
        const halves = onto(backend, sentinel);
        backend.attentionDecode(halves, qb, lead, kvs.map((kv) => ({ ...kv, k: khb, v: vhb })), pos, count, nHead, nKVHead, headDim);
        assertSameBits(halves, bits(out), `${label} ${what}: halves as their f32 values`);
      }
    }
    if (kh !== null && vh !== null) {
      const refHalves = sentinel.slice();
      ref.attentionDecode(refHalves, q, lead, tables.map((t) => ({ k: kh, v: vh, blockTable: t, blockSize })), pos, count, nHead, nKVHead, headDim);
      assert.deepEqual(refHalves, refOut, `reference ${what}: halves as their f32 values`);
    }
    // The reference agrees with itself one sequence at a time.
    const refAlone = sentinel.slice();
    for (let i = 0; i < count; i++) {
      ref.attention(refAlone, q, lead + i, { k, v, blockTable: tables[i], blockSize }, positions[i], 1, nHead, nKVHead, headDim, new Float32Array(nHead * (positions[i] + 1)));
    }
    assert.deepEqual(refOut, refAlone, `reference ${what}`);
  }

  test("batched decode: one call for many sequences gives each its own bits", () => {
    checkDecodeBatch(3, 8, [0], 0, 400);
    checkDecodeBatch(2, 5, [5, 0, 33, 70, 1], 1, 401);
    checkDecodeBatch(4, 16, [130, 2, 64, 31, 32, 95, 200, 7, 9], 2, 402);
    checkDecodeBatch(12, 64, [300, 17], 0, 403);
  });

  test("batched decode, grouped-query: paged blocks of 16 and a static one-block table", () => {
    let seed = 410;
    for (const [nHead, nKVHead] of groupings) {
      checkDecodeBatch(nHead, 8, [0, 15, 16, 33, 100, 2], 1, seed++, nKVHead, 16);
      checkDecodeBatch(nHead, 64, [70, 5, 31], 2, seed++, nKVHead, 16);
      checkDecodeBatch(nHead, 10, [77, 0, 40, 32], 0, seed++, nKVHead, 128);
    }
  });

  test("batched decode over an f16 cache: each sequence its own bits, the f32 cache's over the same values", () => {
    checkDecodeBatch(2, 5, [5, 0, 33, 70, 1], 1, 451, 2, 4, "f16");
    checkDecodeBatch(4, 16, [130, 2, 64, 31, 32, 95, 200, 7, 9], 2, 452, 4, 4, "f16");
    checkDecodeBatch(12, 64, [300, 17], 0, 453, 12, 4, "f16");
    let seed = 460;
    for (const [nHead, nKVHead] of groupings) {
      checkDecodeBatch(nHead, 8, [0, 15, 16, 33, 100, 2], 1, seed++, nKVHead, 16, "f16");
      checkDecodeBatch(nHead, 10, [77, 0, 40, 32], 0, seed++, nKVHead, 128, "f16");
    }
  });

  test("batched decode rejects bad arguments", () => {
    const b = wasm[0].backend;
    const kv: KVView = { k: b.allocF32(64), v: b.allocF32(64), blockTable: Int32Array.from([0, 1]), blockSize: 4 };
    const [out, q] = [b.allocF32(32), b.allocF32(32)];
    assert.throws(() => b.attentionDecode(out, q, -1, [kv], Int32Array.of(3), 1, 2, 2, 4), /row -1 is not a row index/);
    assert.throws(() => b.attentionDecode(out, q, 0, [kv], Int32Array.of(3, 3), 2, 2, 2, 4), /2 sequences, 1 views, 2 positions/);
    assert.throws(() => b.attentionDecode(out, q, 0, [kv], Int32Array.of(-1), 1, 2, 2, 4), /position -1 of sequence 0/);
    assert.throws(() => b.attentionDecode(out, q, 0, [kv], Int32Array.of(8), 1, 2, 2, 4), /block table has 2 blocks of 4, 3 needed/);
    assert.throws(() => b.attentionDecode(out, q, 4, [kv], Int32Array.of(3), 1, 2, 2, 4), /attentionDecode out: length 32 < 40 needed/);
    b.attentionDecode(out, q, 0, [kv], Int32Array.of(3), 0, 2, 2, 4); // no sequences: nothing to do
  });

  test("rejects rows outside out and q", () => {
    const b = wasm[0].backend;
    const kv: KVView = { k: b.allocF32(32), v: b.allocF32(32), blockTable: Int32Array.from([0]), blockSize: 4 };
    const [out, q, scratch] = [b.allocF32(16), b.allocF32(16), b.allocF32(16)];
    assert.throws(() => b.attention(out, q, -1, kv, 0, 1, 2, 2, 4, scratch), /row -1 is not a row index/);
    assert.throws(() => b.attention(out, q, 0.5, kv, 0, 1, 2, 2, 4, scratch), /row 0.5 is not a row index/);
    assert.throws(() => b.attention(out, q, 2, kv, 0, 1, 2, 2, 4, scratch), /attention out: length 16 < 24 needed/);
    b.attention(out, q, 1, kv, 0, 1, 2, 2, 4, scratch); // the last row fits
  });
});

/**
 * A cache of nKVHead heads per row with each head repeated nHead / nKVHead times, as HF's
 * repeat_kv does: multi-head attention over it is what grouped-query attention means.
 */
function repeatKv(kv: Float32Array, nKVHead: number, nHead: number, headDim: number): Float32Array {
  const group = nHead / nKVHead;
  const rows = kv.length / (nKVHead * headDim);
  const out = new Float32Array(rows * nHead * headDim);
  for (let r = 0; r < rows; r++) {
    for (let h = 0; h < nHead; h++) {
      const from = (r * nKVHead + Math.floor(h / group)) * headDim;
      out.set(kv.subarray(from, from + headDim), (r * nHead + h) * headDim);
    }
  }
  return out;
}

/**
 * Causal grouped-query attention in f64, straight from its definition, for t query rows
 * (q's first t rows) at positions [pos, pos + t) over a paged cache.
 */
function naiveAttention(q: Float32Array, k: Float32Array, v: Float32Array, table: Int32Array, blockSize: number,
  pos: number, t: number, nHead: number, nKVHead: number, headDim: number): Float32Array {
  const out = new Float32Array(t * nHead * headDim);
  const cacheRow = (p: number) => (table[Math.floor(p / blockSize)] * blockSize + (p % blockSize)) * nKVHead * headDim;
  for (let i = 0; i < t; i++) {
    for (let h = 0; h < nHead; h++) {
      const qh = (i * nHead + h) * headDim;
      const kvh = Math.floor(h / (nHead / nKVHead)) * headDim;
      const scores: number[] = [];
      for (let p = 0; p <= pos + i; p++) {
        let dot = 0;
        for (let j = 0; j < headDim; j++) dot += q[qh + j] * k[cacheRow(p) + kvh + j];
        scores.push(dot / Math.sqrt(headDim));
      }
      const max = Math.max(...scores);
      const e = scores.map((s) => Math.exp(s - max));
      const sum = e.reduce((a, b) => a + b, 0);
      for (let j = 0; j < headDim; j++) {
        let o = 0;
        for (let p = 0; p <= pos + i; p++) o += e[p] * v[cacheRow(p) + kvh + j];
        out[qh + j] = o / sum;
      }
    }
  }
  return out;
}

/** The bits of a, so that -0 ≠ 0 and NaNs compare. */
function bits(a: Float32Array): Uint32Array {
  return new Uint32Array(a.buffer, a.byteOffset, a.length).slice();
}

function assertSameBits(got: Float32Array, want: Uint32Array, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  const g = bits(got);
  for (let i = 0; i < want.length; i++) {
    if (g[i] !== want[i]) assert.fail(`${what}: [${i}] got ${got[i]}, want ${new Float32Array(want.buffer)[i]}`);
  }
}

// The server promises that at temperature 0 a request gives what it gives alone, and seeded
// sampling whatever else runs: so a row's result must be the same bits whatever the batch size,
// its place in the batch, the thread count, and how threads happen to claim the work.
describe("results depend on nothing but the row's own inputs", () => {
  /** `rows` rows of `cols` from one rng, so any subset can be laid out in any order. */
  function rowsOf(count: number, cols: number, rand: () => number): Float32Array[] {
    return Array.from({ length: count }, () => random(cols, rand));
  }

  function stack(b: Backend, rows: readonly Float32Array[], cols: number): Float32Array {
    const x = b.allocF32(Math.max(1, rows.length) * cols);
    rows.forEach((r, i) => x.set(r, i * cols));
    return x;
  }

  /**
   * Every row of x through w alone on 1 thread, then the whole batch, the batch reversed, and the
   * batch behind an extra row (so every row changes partner and place), on every backend.
   */
  function checkMatmul(backends: readonly Wasm[], w: Matrix, xs: readonly Float32Array[], bias: Float32Array | null, what: string): void {
    const { rows, cols } = w;
    // Each row alone on the first backend of each SIMD level: the levels round differently.
    const aloneByLevel = new Map<string, Uint32Array[]>();
    for (const { backend: first } of backends) {
      if (aloneByLevel.has(simdLevel(first))) continue;
      const fw = ontoMatrix(first, w);
      const fb = bias === null ? null : onto(first, bias);
      aloneByLevel.set(simdLevel(first), xs.map((x) => {
        const out = first.allocF32(rows);
        first.matmul(out, onto(first, x), fw, fb, 1);
        return bits(out);
      }));
    }
    const extra = random(cols, rng(99));
    for (const { label, backend } of backends) {
      const alone = aloneByLevel.get(simdLevel(backend)) ?? [];
      const bw = ontoMatrix(backend, w);
      const bb = bias === null ? null : onto(backend, bias);
      const layouts: [string, Float32Array[], number[]][] = [
        ["in order", [...xs], xs.map((_, i) => i)],
        ["reversed", [...xs].reverse(), xs.map((_, i) => xs.length - 1 - i)],
        ["after another row", [extra, ...xs], xs.map((_, i) => i + 1)],
      ];
      for (const [layout, batch, placeOf] of layouts) {
        const out = backend.allocF32(batch.length * rows);
        backend.matmul(out, stack(backend, batch, cols), bw, bb, batch.length);
        xs.forEach((_, i) => {
          const row = out.subarray(placeOf[i] * rows, (placeOf[i] + 1) * rows);
          assertSameBits(row, alone[i], `${label} ${what}, row ${i} of ${batch.length} ${layout}`);
        });
      }
    }
  }

  // Odd widths exercise the vector and scalar tails; past 1024 columns the 2×4 blocks go by panels.
  const f32Shapes: [number, number, number][] = [
    [1, 3, 2], [3, 5, 3], [4, 7, 5], [16, 8, 4], [17, 9, 7], [31, 4, 6], [33, 13, 2], [63, 5, 9],
    [64, 6, 3], [100, 11, 5], [771, 9, 4], [1030, 6, 5], [2101, 5, 6], [3072, 4, 3],
  ];

  test("f32 matmul, with and without bias", () => {
    const rand = rng(20);
    for (const [cols, rows, n] of f32Shapes) {
      const w: Matrix = { kind: "f32", rows, cols, data: random(rows * cols, rand) };
      const xs = rowsOf(n, cols, rand);
      checkMatmul(wasm, w, xs, null, `f32 ${cols}→${rows}`);
      checkMatmul(wasm, w, xs, random(rows, rand), `f32 ${cols}→${rows} with bias`);
    }
  });

  test("f16 matmul (decode reads x scaled, batches widen the weights)", () => {
    const rand = rng(22);
    for (const [cols, rows, n] of f32Shapes) {
      const { f16 } = randomF16(rows, cols, rand);
      const xs = rowsOf(n, cols, rand);
      checkMatmul(wasm, f16, xs, random(rows, rand), `f16 ${cols}→${rows} with bias`);
    }
  });

  test("q8 matmul, int8 and f32 activations", () => {
    const rand = rng(21);
    for (const [cols, rows, n] of [[32, 3, 2], [64, 7, 5], [96, 5, 3], [288, 9, 4], [768, 6, 7], [3072, 5, 3], [3072, 13, 4], [160, 37, 16], [288, 7, 11]]) {
      const w = quantizeQ8(ref, random(rows * cols, rand), rows, cols);
      const xs = rowsOf(n, cols, rand);
      const bias = random(rows, rand);
      checkMatmul(wasm, w, xs, null, `q8 ${cols}→${rows}`);
      checkMatmul(wasm, w, xs, bias, `q8 ${cols}→${rows} with bias`);
      checkMatmul(wasmF32Acts, w, xs, bias, `q8 (f32 x) ${cols}→${rows} with bias`);
    }
  });

  test("q5 matmul", () => {
    const rand = rng(22);
    for (const [cols, rows, n] of [[32, 3, 2], [64, 7, 5], [96, 5, 3], [288, 9, 4], [576, 6, 7], [768, 13, 9], [160, 37, 16], [1536, 5, 3]]) {
      const w = allocMatrix(ref, rows, cols, "q5");
      ref.writeMatrixRows(w, 0, random(rows * cols, rand), rows);
      const xs = rowsOf(n, cols, rand);
      checkMatmul(wasm, w, xs, null, `q5 ${cols}→${rows}`);
      checkMatmul(wasm, w, xs, random(rows, rand), `q5 ${cols}→${rows} with bias`);
    }
  });

  interface KvCase {
    readonly nHead: number;
    readonly nKVHead?: number; // nHead when left out
    readonly headDim: number;
    readonly blockSize: number;
    readonly total: number; // positions in the cache
  }

  /**
   * Each query row p of `total` is run alone as a decode step (pos p, t 1) on 1 thread; then on
   * every backend as a decode step, as part of one prefill of all rows, and as part of prefill
   * chunks of several sizes (including single rows): always the same bits.
   */
  function checkAttention(c: KvCase, seed: number, storage: KVStorage = "f32"): void {
    const rand = rng(seed);
    const width = c.nHead * c.headDim;
    const nKVHead = c.nKVHead ?? c.nHead;
    const blocks = Math.ceil(c.total / c.blockSize) + 2;
    const order = Array.from({ length: blocks }, (_, i) => i).reverse(); // a non-trivial block table
    const table = Int32Array.from(order.slice(0, Math.ceil(c.total / c.blockSize)));
    const k32 = random(blocks * c.blockSize * nKVHead * c.headDim, rand);
    const v32 = random(blocks * c.blockSize * nKVHead * c.headDim, rand);
    // An f16 cache runs below, with every result the bits of the f32 cache holding its values.
    const kh = kvHalves(k32), vh = kvHalves(v32);
    const k = storage === "f16" ? widenHalves(kh) : k32, v = storage === "f16" ? widenHalves(vh) : v32;
    const q = random(c.total * width, rand, 3);
    const run = (b: Backend, kv: KVView, qb: Float32Array, pos: number, t: number): Float32Array => {
      const out = b.allocF32(t * width);
      b.attention(out, qb.subarray(pos * width, (pos + t) * width), 0, kv, pos, t, c.nHead, nKVHead, c.headDim, b.allocF32(c.nHead * (pos + t)));
      return out;
    };
    const first = wasm[0].backend;
    const firstKv: KVView = { k: onto(first, k), v: onto(first, v), blockTable: table, blockSize: c.blockSize };
    const firstQ = onto(first, q);
    const alone = Array.from({ length: c.total }, (_, p) => bits(run(first, firstKv, firstQ, p, 1)));
    const what = `attention ${JSON.stringify(c)}`;
    const decodeRows = [0, 1, c.blockSize, Math.floor(c.total / 2), c.total - 2, c.total - 1].filter((p) => p >= 0 && p < c.total);
    // Prefill chunks ending at every kind of boundary: single rows, mid-block, mid-position-chunk.
    const cuts = [0, 1, 2, 7, 40, 41, Math.floor(c.total / 2), c.total - 1, c.total].filter((x, i, a) => x <= c.total && (i === 0 || x > a[i - 1]));
    for (const { label, backend } of wasm) {
      const kv: KVView = storage === "f16"
        ? { k: ontoHalves(backend, kh), v: ontoHalves(backend, vh), blockTable: table, blockSize: c.blockSize }
        : { k: onto(backend, k), v: onto(backend, v), blockTable: table, blockSize: c.blockSize };
      const qb = onto(backend, q);
      for (const p of decodeRows) assertSameBits(run(backend, kv, qb, p, 1), alone[p], `${label} ${what}: decode at ${p}`);
      const whole = run(backend, kv, qb, 0, c.total);
      for (let p = 0; p < c.total; p++) assertSameBits(whole.subarray(p * width, (p + 1) * width), alone[p], `${label} ${what}: row ${p} of one prefill`);
      for (let i = 0; i + 1 < cuts.length; i++) {
        const [pos, end] = [cuts[i], cuts[i + 1]];
        const part = run(backend, kv, qb, pos, end - pos);
        for (let p = pos; p < end; p++) {
          assertSameBits(part.subarray((p - pos) * width, (p - pos + 1) * width), alone[p], `${label} ${what}: row ${p} of prefill [${pos}, ${end})`);
        }
      }
    }
  }

  test("attention: decode over long caches, prefill and prefill chunks, any thread count", () => {
    checkAttention({ nHead: 12, headDim: 64, blockSize: 16, total: 300 }, 30);
    checkAttention({ nHead: 4, headDim: 64, blockSize: 256, total: 170 }, 31);
    checkAttention({ nHead: 3, headDim: 5, blockSize: 4, total: 77 }, 32);
    checkAttention({ nHead: 5, headDim: 7, blockSize: 512, total: 100 }, 33);
    checkAttention({ nHead: 1, headDim: 16, blockSize: 8, total: 45 }, 34);
  });

  test("grouped-query attention: decode, prefill and prefill chunks, any thread count", () => {
    checkAttention({ nHead: 6, nKVHead: 2, headDim: 64, blockSize: 16, total: 150 }, 36);
    checkAttention({ nHead: 9, nKVHead: 3, headDim: 10, blockSize: 512, total: 90 }, 37);
    checkAttention({ nHead: 4, nKVHead: 1, headDim: 8, blockSize: 4, total: 50 }, 38);
  });

  // Decode with grouped heads keeps each head's output in registers over a position chunk, 24,
  // 16, 4 floats and single floats at a time: head dims through each of them, blocks of 24 so
  // that position chunks (32) start mid-block, groups of 2, 3, 4 and 8.
  test("grouped-query decode: every register block of the head, blocks straddling position chunks", () => {
    checkAttention({ nHead: 9, nKVHead: 3, headDim: 64, blockSize: 24, total: 200 }, 45);
    checkAttention({ nHead: 8, nKVHead: 1, headDim: 26, blockSize: 24, total: 70 }, 46);
    checkAttention({ nHead: 6, nKVHead: 3, headDim: 44, blockSize: 256, total: 99 }, 47);
    checkAttention({ nHead: 8, nKVHead: 2, headDim: 128, blockSize: 24, total: 66 }, 48);
    checkAttention({ nHead: 9, nKVHead: 3, headDim: 64, blockSize: 24, total: 200 }, 49, "f16");
    checkAttention({ nHead: 8, nKVHead: 1, headDim: 26, blockSize: 24, total: 70 }, 50, "f16");
  });

  test("f16 cache: decode, prefill and prefill chunks, any thread count, the f32 cache's bits", () => {
    checkAttention({ nHead: 12, headDim: 64, blockSize: 16, total: 300 }, 40, "f16");
    checkAttention({ nHead: 3, headDim: 5, blockSize: 4, total: 77 }, 41, "f16");
    checkAttention({ nHead: 5, headDim: 7, blockSize: 512, total: 100 }, 42, "f16");
    checkAttention({ nHead: 6, nKVHead: 2, headDim: 64, blockSize: 16, total: 150 }, 43, "f16");
    checkAttention({ nHead: 9, nKVHead: 3, headDim: 10, blockSize: 512, total: 90 }, 44, "f16");
  });

  test("layerNorm, gelu and add: a row's bits alone and in a batch", () => {
    const rand = rng(35);
    for (const d of [3, 17, 768]) {
      const n = 5;
      const x = random(n * d, rand, 3);
      const weight = random(d, rand);
      const bias = random(d, rand);
      const first = wasm[0].backend;
      const aloneNorm: Uint32Array[] = [];
      const aloneGelu: Uint32Array[] = [];
      const aloneAdd: Uint32Array[] = [];
      for (let i = 0; i < n; i++) {
        const row = onto(first, x.subarray(i * d, (i + 1) * d));
        const out = first.allocF32(d);
        first.layerNorm(out, row, onto(first, weight), onto(first, bias), 1, d, 1e-5);
        aloneNorm.push(bits(out));
        first.gelu(row, d);
        aloneGelu.push(bits(row));
        first.addInPlace(row, out, d);
        aloneAdd.push(bits(row));
      }
      for (const { label, backend } of wasm) {
        const xb = onto(backend, x);
        const out = backend.allocF32(n * d);
        backend.layerNorm(out, xb, onto(backend, weight), onto(backend, bias), n, d, 1e-5);
        backend.gelu(xb, n * d);
        const geluBits = xb.slice();
        backend.addInPlace(xb, out, n * d);
        for (let i = 0; i < n; i++) {
          assertSameBits(out.subarray(i * d, (i + 1) * d), aloneNorm[i], `${label} layerNorm ${d}, row ${i}`);
          assertSameBits(geluBits.subarray(i * d, (i + 1) * d), aloneGelu[i], `${label} gelu ${d}, row ${i}`);
          assertSameBits(xb.subarray(i * d, (i + 1) * d), aloneAdd[i], `${label} add ${d}, row ${i}`);
        }
      }
    }
  });
});

describe("results depend on nothing but the row's own inputs: Llama's kernels", () => {
  test("rmsNorm, rope and siluMul: a row's bits alone and in a batch", () => {
    const rand = rng(55);
    const first = wasm[0].backend;
    for (const [d, nHeads, headDim] of [[5, 3, 6], [64, 1, 64], [1000, 9, 10]]) {
      const n = 7;
      const maxPositions = 40;
      const x = random(n * d, rand, 3);
      const weight = random(d, rand);
      const gateUp = random(2 * n * d, rand, 6);
      const heads = random(n * nHeads * headDim, rand);
      const positions = Int32Array.from({ length: n }, () => Math.floor(((rand() + 1) / 2) * maxPositions));
      const cosSrc = random(maxPositions * (headDim / 2), rand), sinSrc = random(maxPositions * (headDim / 2), rand);
      const aloneNorm: Uint32Array[] = [], aloneSilu: Uint32Array[] = [], aloneRope: Uint32Array[] = [];
      const [fw, fcos, fsin] = [onto(first, weight), onto(first, cosSrc), onto(first, sinSrc)];
      const tokenWidth = nHeads * headDim;
      for (let i = 0; i < n; i++) {
        const out = first.allocF32(d);
        first.rmsNorm(out, onto(first, x.subarray(i * d, (i + 1) * d)), fw, 1, d, 1e-6);
        aloneNorm.push(bits(out));
        first.siluMul(out, onto(first, gateUp.subarray(2 * i * d, 2 * (i + 1) * d)), 1, d);
        aloneSilu.push(bits(out));
        const token = onto(first, heads.subarray(i * tokenWidth, (i + 1) * tokenWidth));
        first.rope(token, 1, nHeads, headDim, positions.subarray(i, i + 1), fcos, fsin);
        aloneRope.push(bits(token));
      }
      for (const { label, backend } of wasm) {
        const out = backend.allocF32(n * d);
        backend.rmsNorm(out, onto(backend, x), onto(backend, weight), n, d, 1e-6);
        const silu = backend.allocF32(n * d);
        backend.siluMul(silu, onto(backend, gateUp), n, d);
        const rotated = onto(backend, heads);
        backend.rope(rotated, n, nHeads, headDim, positions, onto(backend, cosSrc), onto(backend, sinSrc));
        for (let i = 0; i < n; i++) {
          assertSameBits(out.subarray(i * d, (i + 1) * d), aloneNorm[i], `${label} rmsNorm ${d}, row ${i}`);
          assertSameBits(silu.subarray(i * d, (i + 1) * d), aloneSilu[i], `${label} siluMul ${d}, row ${i}`);
          assertSameBits(rotated.subarray(i * tokenWidth, (i + 1) * tokenWidth), aloneRope[i], `${label} rope ${nHeads}×${headDim}, token ${i}`);
        }
      }
    }
  });
});

describe("wasm memory", () => {
  test("a kernel given an array outside the backend's memory throws", () => {
    const b = wasm[1].backend;
    const other = wasm[0].backend;
    assert.throws(() => b.gelu(new Float32Array(8), 8), /not in this wasm backend's memory/);
    assert.throws(() => b.addInPlace(b.allocF32(8), other.allocF32(8), 8), /not in this wasm backend's memory/);
    const w: Matrix = { kind: "f32", rows: 2, cols: 2, data: new Float32Array(4) };
    assert.throws(() => b.matmul(b.allocF32(2), b.allocF32(2), w, null, 1), /matmul w: array is not in this wasm backend's memory/);
  });

  test("a kernel given a too-short array throws", () => {
    const b = wasm[0].backend;
    assert.throws(() => b.layerNorm(b.allocF32(4), b.allocF32(3), b.allocF32(2), b.allocF32(2), 2, 2, 1e-5), /layerNorm x: length 3 < 4/);
  });

  test("allocations are zeroed, 16-byte aligned, and survive memory growth", () => {
    const b = wasm[0].backend;
    const first = b.allocF32(3);
    first.set([1, 2, 3]);
    const big = b.allocI8(40 << 20); // forces memory.grow
    assert.equal(big[big.length - 1], 0);
    const after = b.allocF32(5);
    assert.equal(after.byteOffset % 16, 0);
    assert.deepEqual(Array.from(first), [1, 2, 3]);
    b.addInPlace(first, onto(b, Float32Array.from([1, 1, 1])), 3);
    assert.deepEqual(Array.from(first), [2, 3, 4]);
  });

  test("kernels after close throw", async () => {
    const b = await createWasmBackend({ threads: 2, minParallelNanos: 0 });
    const x = b.allocF32(4);
    b.close();
    assert.throws(() => b.gelu(x, 4), /closed/);
  });
});

describe("SIMD builds", () => {
  test("relaxed is the default where the engine has relaxed SIMD, else baseline; each when asked", async () => {
    const has = await createWasmBackend({ threads: 1, simd: "relaxed" }).then((b) => (b.close(), true), () => false);
    const flagged = process.execArgv.includes("--experimental-wasm-relaxed-simd");
    assert.equal(has, flagged || Number(process.versions.node.split(".")[0]) >= 22, "Node ≥ 22 has relaxed SIMD, Node 20 only with the flag");
    const auto = await createWasmBackend({ threads: 1 });
    assert.equal(simdLevel(auto), has ? "relaxed" : "baseline");
    auto.close();
    const baseline = await createWasmBackend({ threads: 1, simd: "baseline" });
    assert.equal(simdLevel(baseline), "baseline");
    baseline.close();
    if (!has) await assert.rejects(createWasmBackend({ threads: 1, simd: "relaxed" }), /does not support relaxed SIMD/);
    assert.equal(simdLevel(wasm[0].backend), child ? childLevel : simdLevel(auto));
  });

  // Run this whole file again on the build "auto" did not pick, so both pass every comparison;
  // Node 20 has relaxed SIMD only behind a flag.
  test("passes every kernel test on the other SIMD build", { skip: child && "already the child" }, () => {
    const other = simdLevel(wasm[0].backend) === "relaxed" ? "baseline" : "relaxed";
    const flags = other === "relaxed" ? ["--experimental-wasm-relaxed-simd"] : [];
    const r = spawnSync(process.execPath, [...flags, "--test", fileURLToPath(import.meta.url)], {
      env: { ...process.env, KERNELS_TEST_SIMD: other },
      encoding: "utf8",
      timeout: 120_000,
    });
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`.slice(-4000));
  });
});

/** Runs an ES module script in a fresh node process and returns its result. */
function runScript(script: string, args: string[] = []): { status: number | null; stdout: string; stderr: string; error?: Error } {
  const dir = mkdtempSync(path.join(tmpdir(), "kernels-"));
  const file = path.join(dir, "main.mjs");
  writeFileSync(file, script);
  const r = spawnSync(process.execPath, [...args, file], { timeout: 20_000, encoding: "utf8" });
  rmSync(dir, { recursive: true, force: true });
  return r;
}

const indexUrl = new URL("../src/kernels/index.js", import.meta.url).href;

describe("createBackend", () => {
  test("builds both kinds", async () => {
    const r = await createBackend({ kind: "reference" });
    assert.equal(r.name, "reference");
    const w = await createBackend({ kind: "wasm", threads: 2 });
    assert.equal(w.threads, 2);
    w.close();
  });

  test("worker threads do not keep the process alive without close()", () => {
    const r = runScript(`import { createBackend } from ${JSON.stringify(indexUrl)};
      const b = await createBackend({ kind: "wasm", threads: 2 });
      const x = b.allocF32(1 << 16); b.gelu(x, x.length);`);
    assert.equal(r.error, undefined, `child did not exit: ${r.error?.message}`);
    assert.equal(r.status, 0, r.stderr);
  });

  test("enableRelaxedSimd() lets later backends ask for the FMA build", () => {
    const r = runScript(`import { createBackend, createWasmBackend, enableRelaxedSimd } from ${JSON.stringify(indexUrl)};
      if (!enableRelaxedSimd()) throw new Error("relaxed SIMD did not turn on");
      for (const b of [await createWasmBackend({ threads: 1, simd: "relaxed" }), await createBackend({ kind: "wasm", threads: 1, simd: "relaxed" }), await createWasmBackend({ threads: 1 })]) {
        console.log(b.name); b.close();
      }`);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^wasm-simd\(relaxed.*\nwasm-simd\(relaxed.*\nwasm-simd\(relaxed/);
  });

  test("LLM.load and LLMEngine.load take simd: relaxed", () => {
    const index = JSON.stringify(new URL("../src/index.js", import.meta.url).href);
    const r = runScript(`import { LLM, LLMEngine, defaultModelDir, enableRelaxedSimd } from ${index};
      enableRelaxedSimd();
      const llm = await LLM.load(defaultModelDir(), { threads: 1, simd: "relaxed" });
      const [out] = llm.generateBatch(["ROMEO:"], { temperature: 0, maxTokens: 8 });
      console.log(llm.backend.name, out.tokens.length); llm.close();
      const engine = await LLMEngine.load(defaultModelDir(), { threads: 1, simd: "relaxed" });
      console.log(engine.backend.name); engine.close();`);
    assert.equal(r.status, 0, r.stderr);
    // The backend names the i32 dot where its probe takes it (src/kernels/wasm/dot-probe.ts).
    assert.match(r.stdout, /^wasm-simd\(relaxed, (int8 dot to i32, )?1 thread.* 8\nwasm-simd\(relaxed, (int8 dot to i32, )?1 thread/);
  });
});

