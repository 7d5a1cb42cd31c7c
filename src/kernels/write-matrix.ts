import type { Matrix } from "./backend.js";
import { Q4_BLOCK, Q4K_BLOCK, Q5_BLOCK, Q6K_BLOCK, Q8_BLOCK } from "./backend.js";
import { weightHalfOfBits } from "./f16.js";
import { quantizeBlocksQ4K } from "./q4k.js";
import { quantizeBlocksQ5 } from "./q5.js";
import { quantizeBlocksQ6K } from "./q6k.js";
import { quantizeBlocksQ4, quantizeBlocksQ8 } from "./quantize.js";

// How f32 checkpoint values become a matrix's storage at load time: the reference conversions,
// which every backend's writeMatrixRows / writeMatrixColumns must match bit for bit.

/** Checks what every backend's writeMatrixRows takes: rows [firstRow, firstRow + count) of m. */
export function checkRowRange(m: Matrix, firstRow: number, count: number): void {
  if (firstRow < 0 || count < 0 || firstRow + count > m.rows) throw new Error(`writeMatrixRows: rows [${firstRow}, ${firstRow + count}) outside ${m.rows}`);
  if (m.kind === "q4k" && m.cols % Q4K_BLOCK !== 0) throw new Error(`q4k rows must be whole super-blocks of ${Q4K_BLOCK}, got ${m.cols} columns`);
  if (m.kind === "q6k" && m.cols % Q6K_BLOCK !== 0) throw new Error(`q6k rows must be whole super-blocks of ${Q6K_BLOCK}, got ${m.cols} columns`);
}

/** Checks what every backend's writeMatrixColumns takes: columns inside m, whole blocks for q8, q4 and q5. */
export function checkColumnRange(m: Matrix, firstCol: number, count: number): void {
  if (m.kind === "q4k" || m.kind === "q6k") throw new Error(`${m.kind} matrices are written by rows, whole super-blocks of ${Q4K_BLOCK}`);
  if (firstCol < 0 || count < 0 || firstCol + count > m.cols) throw new Error(`writeMatrixColumns: columns [${firstCol}, ${firstCol + count}) outside ${m.cols}`);
  if ((m.kind === "q8" || m.kind === "q4" || m.kind === "q5") && (firstCol % Q8_BLOCK !== 0 || count !== Q8_BLOCK)) throw new Error(`${m.kind} columns must be one whole block, got [${firstCol}, ${firstCol + count})`);
}

/**
 * Stores `count` f32 rows starting at `firstRow`: rounded to the nearest half for f16 (exact for
 * weights that were F16 on disk; see kernels/f16.ts), quantized for q8, q4, q4k, q5 and q6k.
 */
export function writeMatrixRows(m: Matrix, firstRow: number, rows: Float32Array, count: number): void {
  checkRowRange(m, firstRow, count);
  const { cols } = m;
  if (m.kind === "f32") {
    m.data.set(rows.subarray(0, count * cols), firstRow * cols);
    return;
  }
  if (m.kind === "f16") {
    const bits = new Int32Array(rows.buffer, rows.byteOffset, count * cols);
    const base = firstRow * cols;
    for (let i = 0; i < count * cols; i++) m.data[base + i] = weightHalfOfBits(bits[i]);
    return;
  }
  if (m.kind === "q4") {
    quantizeBlocksQ4(rows, 0, m.q, m.scales, (firstRow * cols) / Q4_BLOCK, (count * cols) / Q4_BLOCK);
    return;
  }
  if (m.kind === "q4k") {
    quantizeBlocksQ4K(rows, 0, m, (firstRow * cols) / Q4K_BLOCK, (count * cols) / Q4K_BLOCK);
    return;
  }
  if (m.kind === "q5") {
    for (let r = 0; r < count; r++) quantizeBlocksQ5(rows, r * cols, m, firstRow + r, 0, cols / Q5_BLOCK);
    return;
  }
  if (m.kind === "q6k") {
    quantizeBlocksQ6K(rows, 0, m, (firstRow * cols) / Q6K_BLOCK, (count * cols) / Q6K_BLOCK);
    return;
  }
  quantizeBlocksQ8(rows, 0, m.q, m.scales, (firstRow * cols) / Q8_BLOCK, (count * cols) / Q8_BLOCK);
}

/**
 * Stores columns [firstCol, firstCol + count) of every row from `columns`, (count, rows) row-major:
 * a transposed slice. q8, q4 and q5 take whole blocks: firstCol a multiple of 32, count 32.
 */
export function writeMatrixColumns(m: Matrix, firstCol: number, columns: Float32Array, count: number): void {
  checkColumnRange(m, firstCol, count);
  const { rows, cols } = m;
  if (m.kind === "f32") {
    for (let r = 0; r < rows; r++) for (let j = 0; j < count; j++) m.data[r * cols + firstCol + j] = columns[j * rows + r];
    return;
  }
  if (m.kind === "f16") {
    const bits = new Int32Array(columns.buffer, columns.byteOffset, count * rows);
    for (let r = 0; r < rows; r++) for (let j = 0; j < count; j++) m.data[r * cols + firstCol + j] = weightHalfOfBits(bits[j * rows + r]);
    return;
  }
  if (m.kind === "q4k" || m.kind === "q6k") return; // refused by checkColumnRange
  const block = new Float32Array(Q8_BLOCK);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < Q8_BLOCK; j++) block[j] = columns[j * rows + r];
    if (m.kind === "q5") quantizeBlocksQ5(block, 0, m, r, firstCol / Q5_BLOCK, 1);
    else if (m.kind === "q4") quantizeBlocksQ4(block, 0, m.q, m.scales, (r * cols + firstCol) / Q4_BLOCK, 1);
    else quantizeBlocksQ8(block, 0, m.q, m.scales, (r * cols + firstCol) / Q8_BLOCK, 1);
  }
}
