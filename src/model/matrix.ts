import type { Backend, Matrix } from "../kernels/backend.js";
import { Q4_BLOCK, Q4K_BLOCK, Q5_BLOCK, Q6K_BLOCK, Q8_BLOCK, q5HighBytesPerRow } from "../kernels/backend.js";
import { UserError } from "../errors.js";
import { weightHalfTable } from "../kernels/f16.js";
import { q4kWeight } from "../kernels/q4k.js";
import { q5Weight } from "../kernels/q5.js";
import { Q6K_Q_BYTES, q6kWeight } from "../kernels/q6k.js";
import { q4Nibble } from "../kernels/quantize.js";
import { copyFloats } from "./copy.js";

/**
 * How matrices are stored in memory: f32, IEEE half (f16), int8 with a scale per 32 weights (q8),
 * 4 bits with a scale per 32 weights (q4, ggml's Q4_0 blocks), or 4 bits in ggml's Q4_K
 * super-blocks of 256 (q4k: a scale and a min per 32, kept from Q4_K files as they are), 5 bits
 * with a scale per 32 weights (q5, ggml's Q5_0 blocks), or 6 bits in ggml's Q6_K super-blocks of
 * 256 (q6k: an int8 scale per 16, kept from Q6_K files as they are).
 */
export type WeightDType = "f32" | "f16" | "q8" | "q4" | "q4k" | "q5" | "q6k";

/**
 * The storage without --dtype, for the Node loader and the browser alike: a GGUF's matrices keep
 * their file's kinds (null: each as stored), every other checkpoint is f32.
 */
export function defaultStorage(checkpoint: "folder" | "gguf" | "llama2c"): WeightDType | null {
  return checkpoint === "gguf" ? null : "f32";
}

/** A zeroed matrix in the backend's memory. */
export function allocMatrix(backend: Backend, rows: number, cols: number, dtype: WeightDType): Matrix {
  if (dtype === "f32") return { kind: "f32", rows, cols, data: backend.allocF32(rows * cols) };
  if (dtype === "f16") return { kind: "f16", rows, cols, data: backend.allocU16(rows * cols) };
  if (dtype === "q4k") {
    if (cols % Q4K_BLOCK !== 0) throw new UserError(`q4k storage needs matrix rows whose length is a multiple of ${Q4K_BLOCK}, but this model has rows of ${cols}: use --dtype q8`);
    const supers = (rows * cols) / Q4K_BLOCK;
    return { kind: "q4k", rows, cols, q: backend.allocI8((rows * cols) / 2), subScales: backend.allocI8(16 * supers), superScales: backend.allocF32(2 * supers) };
  }
  if (dtype === "q6k") {
    if (cols % Q6K_BLOCK !== 0) throw new UserError(`q6k storage needs matrix rows whose length is a multiple of ${Q6K_BLOCK}, but this model has rows of ${cols}: use --dtype q8`);
    const supers = (rows * cols) / Q6K_BLOCK;
    return { kind: "q6k", rows, cols, q: backend.allocI8(Q6K_Q_BYTES * supers), subScales: backend.allocI8(16 * supers), superScales: backend.allocF32(supers) };
  }
  if (cols % Q8_BLOCK !== 0) throw new UserError(`--dtype ${dtype} needs matrix rows whose length is a multiple of ${Q8_BLOCK}, but this model has rows of ${cols}: use --dtype f16 or f32`);
  if (dtype === "q4") return { kind: "q4", rows, cols, q: backend.allocI8((rows * cols) / 2), scales: backend.allocF32((rows * cols) / Q4_BLOCK) };
  if (dtype === "q5") return { kind: "q5", rows, cols, q: backend.allocI8((rows * cols) / 2), qh: backend.allocI8(rows * q5HighBytesPerRow(cols)), scales: backend.allocF32((rows * cols) / Q5_BLOCK) };
  return { kind: "q8", rows, cols, q: backend.allocI8(rows * cols), scales: backend.allocF32((rows * cols) / Q8_BLOCK) };
}

/**
 * Bytes allocMatrix takes for `elements` weights: q8 and q4 add an f32 scale per 32, q4k 24 bytes
 * per 256, q6k 20, q5 a fifth bit and an f32 scale per 32 and, given the rows' length `cols`, the
 * padding of each row's fifth bits to a whole group of 128 (without it, rows of whole groups are assumed).
 */
export function matrixBytes(elements: number, dtype: WeightDType, cols?: number): number {
  if (dtype === "f32") return 4 * elements;
  if (dtype === "f16") return 2 * elements;
  if (dtype === "q4k") return elements / 2 + (elements / Q4K_BLOCK) * 24;
  if (dtype === "q6k") return (elements / Q6K_BLOCK) * (Q6K_Q_BYTES + 16 + 4);
  if (dtype === "q5") {
    const high = cols === undefined ? elements / 8 : (elements / cols) * q5HighBytesPerRow(cols);
    return elements / 2 + high + (elements / Q5_BLOCK) * 4;
  }
  return (dtype === "q4" ? elements / 2 : elements) + (elements / Q8_BLOCK) * 4;
}

/** out[at, at + C) = row `row` of the matrix as f32: an embedding lookup, dequantizing if needed. */
export function readMatrixRow(out: Float32Array, at: number, m: Matrix, row: number): void {
  const { cols } = m;
  const from = row * cols;
  if (m.kind === "f32") {
    copyFloats(out, at, m.data, from, cols);
    return;
  }
  if (m.kind === "f16") {
    const half = weightHalfTable();
    for (let c = 0; c < cols; c++) out[at + c] = half[m.data[from + c]];
    return;
  }
  if (m.kind === "q4k") {
    for (let c = 0; c < cols; c++) out[at + c] = q4kWeight(m, from + c);
    return;
  }
  if (m.kind === "q5") {
    for (let c = 0; c < cols; c++) out[at + c] = q5Weight(m, from + c);
    return;
  }
  if (m.kind === "q6k") {
    for (let c = 0; c < cols; c++) out[at + c] = q6kWeight(m, from + c);
    return;
  }
  if (m.kind === "q4") {
    for (let c = 0; c < cols; c++) out[at + c] = q4Nibble(m.q, from + c) * m.scales[(from + c) / Q4_BLOCK | 0];
    return;
  }
  for (let c = 0; c < cols; c++) out[at + c] = m.q[from + c] * m.scales[(from + c) / Q8_BLOCK | 0];
}

export function matrixSize(m: Matrix): number {
  return m.rows * m.cols;
}

/** The arrays a matrix's values live in (what a decode step reads of it). */
export function matrixArrays(m: Matrix): (Float32Array | Uint16Array | Int8Array)[] {
  if (m.kind === "q4k" || m.kind === "q6k") return [m.q, m.subScales, m.superScales];
  if (m.kind === "q5") return [m.q, m.qh, m.scales];
  return m.kind === "q8" || m.kind === "q4" ? [m.q, m.scales] : [m.data];
}
