import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Backend, Matrix, Q6KMatrix } from "../src/kernels/backend.js";
import { createReferenceBackend } from "../src/kernels/index.js";
import { quantizeQ8K } from "../src/kernels/q4k.js";
import { copyQ6KBlocks, q6kValue, q6kWeight } from "../src/kernels/q6k.js";
import { dequantizeQ6K, Q6_K_BYTES, quantizeQ6K } from "../src/io/gguf-kquants.js";
import { GGMLType } from "../src/io/gguf.js";
import { readGGUF } from "../src/io/gguf-read.js";
import { allocMatrix, readMatrixRow } from "../src/model/matrix.js";
import { stackedKind, storedKind } from "../src/model/layers/gguf-tensors.js";
import { LLAMA_STYLE_VARIANTS } from "../src/model/families/llama/index.js";
import { llamaConfigFromGGUF, loadLlamaGGUF } from "../src/model/families/llama/load-gguf.js";
import { familyOfGGUF } from "../src/model/families/index.js";
import { convertCommand } from "../src/cli/convert.js";
import { LLM } from "../src/engine/llm.js";
import { UserError } from "../src/errors.js";
import { writeForeignFolder } from "../scripts/foreign-gguf/configs.js";
import { assertBatchInvariant, kindTestBackends, assertPassesRelaxed, assertWithinBound, onto, random, rng, q8kBound } from "./kernel-helpers.js";

function ontoQ6K(b: Backend, w: Q6KMatrix): Q6KMatrix {
  const q = b.allocI8(w.q.length);
  q.set(w.q);
  const subScales = b.allocI8(w.subScales.length);
  subScales.set(w.subScales);
  return { ...w, q, subScales, superScales: onto(b, w.superScales) };
}

const ref = createReferenceBackend();
/** Run again in a child process with relaxed SIMD (the end of this file). */
const relaxedChild = process.env.Q6K_TEST_RELAXED === "1";
const wasm = kindTestBackends(relaxedChild);

/** A q6k matrix of ggml's Q6_K quantization of `values`, in the reference backend. */
function q6kOf(values: Float32Array, rows: number, cols: number): Q6KMatrix {
  const m = allocMatrix(ref, rows, cols, "q6k");
  if (m.kind !== "q6k") throw new Error("q6k expected");
  ref.writeMatrixRows(m, 0, values, rows);
  return m;
}

/** Weights with awkward sub-blocks: all zero, all positive, one large outlier (a scale of −128 or 127 nearby). */
function weights(rows: number, cols: number, rand: () => number): Float32Array {
  const a = random(rows * cols, rand);
  a.fill(0, 0, 16);
  for (let i = 16; i < 48 && i < a.length; i++) a[i] = Math.abs(a[i]);
  if (a.length > 100) a[100] = 9;
  if (a.length > 300) a[300] = -9;
  return a;
}

describe("q6k storage", () => {
  test("holds ggml's Q6_K weights: the same bits as dequantize_row_q6_K", () => {
    const rand = rng(21);
    const rows = 3, cols = 512;
    const values = weights(rows, cols, rand);
    const blocks = (rows * cols) / 256;
    const bytes = new Uint8Array(blocks * Q6_K_BYTES);
    quantizeQ6K(values, 0, blocks, bytes, 0);
    const want = new Float32Array(rows * cols);
    dequantizeQ6K(bytes, 0, blocks, want, 0);
    const m = allocMatrix(ref, rows, cols, "q6k");
    if (m.kind !== "q6k") throw new Error("q6k expected");
    copyQ6KBlocks(bytes, 0, blocks, m, 0);
    for (let i = 0; i < want.length; i++) assert.equal(q6kWeight(m, i), want[i], `weight ${i}`);
    // Every 6-bit value survives the repacking, 0 and 63 included.
    const seen = new Set<number>();
    for (let i = 0; i < want.length; i++) seen.add(q6kValue(m, i));
    assert.ok(seen.has(0) && seen.has(63), `levels seen: ${[...seen].sort((a, b) => a - b).join(",")}`);
    const row = new Float32Array(cols);
    readMatrixRow(row, 0, m, 2);
    assert.deepEqual(Array.from(row), Array.from(want.subarray(2 * cols)));
    // writeMatrixRows quantizes as ggml does: the same arrays, on every backend.
    const written = q6kOf(values, rows, cols);
    assert.deepEqual(Array.from(written.q), Array.from(m.q));
    assert.deepEqual(Array.from(written.subScales), Array.from(m.subScales));
    assert.deepEqual(Array.from(written.superScales), Array.from(m.superScales));
    const b = wasm[0].backend;
    const onWasm = allocMatrix(b, rows, cols, "q6k");
    b.writeMatrixRows(onWasm, 0, onto(b, values), rows);
    if (onWasm.kind !== "q6k") throw new Error("q6k expected");
    assert.deepEqual(Array.from(onWasm.q), Array.from(m.q));
  });

  test("needs whole super-blocks and is written by rows", () => {
    assert.throws(() => allocMatrix(ref, 2, 288, "q6k"), (e: unknown) => e instanceof UserError && /q6k storage needs .*multiple of 256.*rows of 288/.test(e.message));
    const m = allocMatrix(ref, 4, 256, "q6k");
    assert.throws(() => ref.writeMatrixColumns(m, 0, new Float32Array(32 * 4), 32), /written by rows/);
    const b = wasm[0].backend;
    assert.throws(() => b.writeMatrixColumns(allocMatrix(b, 4, 256, "q6k"), 0, b.allocF32(32 * 4), 32), /written by rows/);
    const bad: Q6KMatrix = { kind: "q6k", rows: 1, cols: 288, q: b.allocI8(216), subScales: b.allocI8(32), superScales: b.allocF32(2) };
    assert.throws(() => b.matmul(b.allocF32(1), b.allocF32(288), bad, null, 1), /multiple of 256/);
    const short: Q6KMatrix = { kind: "q6k", rows: 2, cols: 256, q: b.allocI8(192), subScales: b.allocI8(32), superScales: b.allocF32(2) };
    assert.throws(() => b.matmul(b.allocF32(2), b.allocF32(256), short, null, 1), /w\.q: length 192 < 384/);
  });

  test("a GGUF's Q6_K tensors load as q6k, a stack mixing Q6_K with other types as the widest (q8 at least)", () => {
    assert.equal(storedKind(GGMLType.Q6_K), "q6k");
    assert.equal(stackedKind([GGMLType.Q6_K, GGMLType.Q6_K]), "q6k");
    assert.equal(stackedKind([GGMLType.Q4_K, GGMLType.Q4_K, GGMLType.Q6_K]), "q8");
    assert.equal(stackedKind([GGMLType.Q6_K, GGMLType.Q8_0]), "q8");
    assert.equal(stackedKind([GGMLType.Q6_K, GGMLType.F16]), "f32");
  });
});

describe("matmul q6k", () => {
  const shapes: [number, number, number][] = [];
  for (const cols of [256, 512, 768]) for (const rows of [1, 5, 31]) for (const n of [1, 2, 3, 4, 5, 6, 7, 8, 9]) shapes.push([n, rows, cols]);
  shapes.push([1, 70, 1536], [3, 33, 1280], [17, 9, 3072]);

  /**
   * The kernels compute the reference's integer per super-block exactly and then a few f32
   * roundings (its conversion, d·xs, the product, the running sum over ≤ 12 super-blocks): each
   * output is within 2e-6 of the magnitude Σ_k xs_k·|d_k|·Σ_c |sc|·32·|x̂_c| of its terms (d may be
   * negative: ggml's Q6_K takes it from the largest-magnitude scale, sign and all).
   */
  function f32Bound(x: Float32Array, w: Q6KMatrix, n: number): Float32Array {
    const bound = new Float32Array(n * w.rows);
    const supers = w.cols / 256;
    const xq = new Int8Array(w.cols), xs = new Float32Array(supers);
    for (let i = 0; i < n; i++) {
      quantizeQ8K(x.subarray(i * w.cols, (i + 1) * w.cols), xq, xs);
      for (let r = 0; r < w.rows; r++) {
        let s = 0;
        for (let c = 0; c < w.cols; c++) {
          const k = r * supers + (c >> 8);
          s += xs[c >> 8] * Math.abs(w.superScales[k]) * Math.abs(w.subScales[16 * k + ((c >> 4) & 15)]) * 32 * Math.abs(xq[c]);
        }
        bound[i * w.rows + r] = 2e-6 * s;
      }
    }
    return bound;
  }

  test("the reference quantizes x as Q8_K: within its bound of the exact product", () => {
    const rand = rng(25);
    for (const [n, rows, cols] of [[3, 5, 768], [2, 9, 1536]]) {
      const w = q6kOf(weights(rows, cols, rand), rows, cols);
      const x = random(n * cols, rand);
      x[5] = 40; // an outlier coarsens its whole super-block's grid
      const got = new Float32Array(n * rows);
      ref.matmul(got, x, w, null, n);
      const bound = q8kBound(x, w.rows, w.cols, n, (i) => q6kWeight(w, i));
      for (let i = 0; i < n; i++) {
        for (let r = 0; r < rows; r++) {
          let exact = 0;
          for (let c = 0; c < cols; c++) exact += x[i * cols + c] * q6kWeight(w, r * cols + c);
          const err = Math.abs(got[i * rows + r] - exact);
          assert.ok(err <= 1.01 * bound[i * rows + r] + 1e-5 * (1 + Math.abs(exact)), `[${i}, ${r}] ${got[i * rows + r]} vs exact ${exact} (bound ${bound[i * rows + r]})`);
        }
      }
    }
  });

  test("the reference's Q6_K · Q8_K sums, to f32 rounding, for n = 1..9 on every thread count", () => {
    const rand = rng(22);
    for (const [n, rows, cols] of shapes) {
      const w = q6kOf(weights(rows, cols, rand), rows, cols);
      const x = random(n * cols, rand);
      const bias = random(rows, rand);
      assertWithinBound(ref, wasm, w, (b) => ontoQ6K(b, w), x, bias, n, f32Bound(x, w, n), "q6k");
    }
  });

  test("exact (to f32 rounding) when x is already on the int8 grid, extreme levels and scales included", () => {
    const rand = rng(23);
    const [n, rows, cols] = [3, 9, 512];
    const w = q6kOf(weights(rows, cols, rand), rows, cols);
    // Extremes the bounds allow: every q 0 or 63 in a sub-block, its scale −128 and 127.
    w.q.fill(-1, 0, 192);
    w.subScales[0] = -128;
    w.subScales[1] = 127;
    const x = new Float32Array(n * cols);
    for (let i = 0; i < x.length; i++) x[i] = i % 32 === 0 ? 127 : i % 7 === 0 ? -127 : Math.round(rand() * 127);
    const want = new Float32Array(n * rows);
    ref.matmul(want, x, w, null, n);
    for (const { label, backend } of wasm) {
      const out = backend.allocF32(n * rows);
      backend.matmul(out, onto(backend, x), ontoQ6K(backend, w), null, n);
      for (let i = 0; i < want.length; i++) assert.ok(Math.abs(out[i] - want[i]) <= 1e-5 * (1 + Math.abs(want[i])), `${label} [${i}] ${out[i]} vs ${want[i]}`);
    }
  });

  test("batch and thread invariant: every row the same bits alone, in any batch, on any thread count or build", () => {
    const rand = rng(24);
    for (const [rows, cols] of [[31, 768], [9, 1536], [6, 256]]) {
      const w = q6kOf(weights(rows, cols, rand), rows, cols);
      const n = 17;
      assertBatchInvariant(wasm, (b) => ontoQ6K(b, w), random(n * cols, rand), random(rows, rand), n);
    }
  });
});

describe("a GGUF model whose matrices are Q6_K", () => {
  let work: string;
  let file: string;
  before(async () => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), "nanogpt-q6k-"));
    const folder = writeForeignFolder(path.join(work, "llama"), "llama");
    file = path.join(work, "llama-q6_k.gguf");
    await convertCommand({ model: folder, to: "gguf", dtype: "q6_k", out: file, quiet: true });
  });
  after(() => fs.rmSync(work, { recursive: true, force: true }));

  const allLogits = (llm: LLM, ids: number[]): Float32Array[] => {
    const out: Float32Array[] = [];
    llm.forEachPositionLogits(ids, (_, logits) => out.push(logits.slice()));
    return out;
  };

  test("loads its Q6_K matrices as q6k with ggml's weights, bit for bit", () => {
    const g = readGGUF(file);
    const variant = LLAMA_STYLE_VARIANTS.get(familyOfGGUF(g));
    assert.ok(variant !== undefined);
    const c = llamaConfigFromGGUF(g, variant);
    const stored = loadLlamaGGUF(g, c, ref, null);
    const exact = loadLlamaGGUF(g, c, ref, "f32");
    const typeOf = (name: string) => g.tensors.find((x) => x.name === name)?.type;
    const pairs: [string, Matrix, Matrix, string[]][] = [["embed", stored.embed, exact.embed, ["token_embd"]]];
    stored.blocks.forEach((b, l) => {
      const e = exact.blocks[l];
      pairs.push([`${l} qkv`, b.qkv, e.qkv, ["attn_q", "attn_k", "attn_v"].map((t) => `blk.${l}.${t}`)]);
      pairs.push([`${l} o`, b.o, e.o, [`blk.${l}.attn_output`]]);
      pairs.push([`${l} gateUp`, b.gateUp, e.gateUp, ["ffn_gate", "ffn_up"].map((t) => `blk.${l}.${t}`)]);
      pairs.push([`${l} down`, b.down, e.down, [`blk.${l}.ffn_down`]]);
    });
    let q6k = 0;
    for (const [label, m, want, tensors] of pairs) {
      if (!tensors.every((t) => typeOf(`${t}.weight`) === GGMLType.Q6_K)) continue;
      assert.equal(m.kind, "q6k", label);
      q6k++;
      const row = new Float32Array(m.cols), wantRow = new Float32Array(m.cols);
      for (let r = 0; r < m.rows; r++) {
        readMatrixRow(row, 0, m, r);
        readMatrixRow(wantRow, 0, want, r);
        assert.deepEqual(row, wantRow, `${label} row ${r}`);
      }
    }
    assert.ok(q6k >= 2, `${q6k} matrices all Q6_K`);
  });

  test("its logits as stored, on the wasm kernels, are within 0.2 of the f32 load's", async () => {
    const ids = [1, 5, 9, 17, 3, 30, 11, 22, 7, 2, 13, 19];
    const exact = await LLM.load(file, { backend: "reference", dtype: "f32" });
    try {
      const want = allLogits(exact, ids);
      for (const simd of ["baseline", "auto"] as const) {
        const llm = await LLM.load(file, { threads: 2, simd });
        try {
          const got = allLogits(llm, ids);
          let d = 0;
          got.forEach((row, p) => row.forEach((v, i) => (d = Math.max(d, Math.abs(v - want[p][i])))));
          // The weights are the f32 load's; only x's rounding to Q8_K (int8 per 256) moves the logits (as for q4k in gguf-foreign.test.ts).
          assert.ok(d < 0.2, `as stored (${simd}): max logit difference ${d} from the f32 load`);
        } finally {
          llm.close();
        }
      }
    } finally {
      exact.close();
    }
  });
});

describe("q6k with relaxed SIMD", () => {
  test("runs when asked for, where the engine has relaxed SIMD", { skip: !relaxedChild && "checked in the child process below" }, () => {
    assert.match(wasm[0].backend.name, /relaxed/);
  });

  test("this file passes with the relaxed build, in a child with relaxed SIMD", { skip: relaxedChild && "this is the child" }, () => {
    assertPassesRelaxed(import.meta.url, "Q6K_TEST_RELAXED", 300_000);
  });
});
