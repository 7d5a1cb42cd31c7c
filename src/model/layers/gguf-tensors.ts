import { UserError } from "../../errors.js";
import { GGMLType, ggmlTypeName, isReadableType, readableTypeNames, type ReadableGGMLType } from "../../io/gguf.js";
import { decodeBlocksToQ8, decodeF32, isIntBlockType } from "../../io/gguf-quant.js";
import { readTensorRows, type GGUFFile, type GGUFTensorInfo } from "../../io/gguf-parse.js";
import { checkFinite } from "../../io/safetensors-parse.js";
import { f16Table } from "../../numeric/half.js";
import type { Backend, Matrix } from "../../kernels/backend.js";
import { copyQ4KBlocks } from "../../kernels/q4k.js";
import { copyQ5Blocks } from "../../kernels/q5.js";
import { copyQ6KBlocks } from "../../kernels/q6k.js";
import { Q4K_BLOCK, Q6K_BLOCK } from "../../kernels/backend.js";
import { allocMatrix, matrixBytes, type WeightDType } from "../matrix.js";

/** Bytes read from the file at a time. */
const READ_CHUNK = 1 << 20;
/** f32 values staged at a time for conversion to f16 or q8 storage (never freed: kept small). */
const STAGING_FLOATS = 1 << 16;

/** Where row r of a tensor goes in the matrix being built (null: row r). */
export type RowMap = ((row: number) => number) | null;

/** A GGUF tensor of the dims the metadata implies, in a type this engine reads. */
export function checkedGGUFTensor(g: GGUFFile, t: GGUFTensorInfo | undefined, name: string, dims: readonly number[]): GGUFTensorInfo & { readonly type: ReadableGGMLType } {
  if (t === undefined) throw new UserError(`${g.file}: tensor ${name} is missing`);
  if (t.dims.length !== dims.length || t.dims.some((d, i) => d !== dims[i])) {
    throw new UserError(`${g.file}: tensor ${name} has shape [${t.dims.join(", ")}] but the metadata implies [${dims.join(", ")}]`);
  }
  const type = t.type;
  if (!isReadableType(type)) {
    throw new UserError(`${g.file}: tensor ${name} has type ${ggmlTypeName(type)}, which this engine cannot read (supported: ${readableTypeNames()})`);
  }
  return { ...t, type };
}

/**
 * How a matrix of this GGML type is kept when no dtype is asked for: the fastest storage that
 * loses nothing the file holds. Q4_0, Q5_0, Q4_K and Q6_K blocks load as they are (q4, q5, q4k,
 * q6k); Q8_0 is integers with a scale per 32 already (q8, copied); the other block types are requantized
 * to q8 (a step of amax/254 per 32, finer than their own); floats stay f32.
 */
export function storedKind(type: number): WeightDType {
  switch (type) {
    case GGMLType.Q4_0:
      return "q4";
    case GGMLType.Q4_K:
      return "q4k";
    case GGMLType.Q5_0:
      return "q5";
    case GGMLType.Q6_K:
      return "q6k";
    case GGMLType.F32:
    case GGMLType.F16:
    case GGMLType.BF16:
      return "f32";
    default:
      return "q8";
  }
}

/** Storage from narrowest to widest: a stacked matrix whose parts differ takes the widest, q8 at least. */
const WIDTH: Readonly<Record<WeightDType, number>> = { q4: 0, q4k: 0, q5: 0, q6k: 0, q8: 1, f16: 2, f32: 3 };

/** The one storage of a matrix stacked from tensors of these types. */
export function stackedKind(types: readonly number[]): WeightDType {
  const kinds = types.map(storedKind);
  if (kinds.every((k) => k === kinds[0])) return kinds[0];
  return kinds.reduce((a, b) => (WIDTH[b] > WIDTH[a] ? b : a), "q8");
}

/** The bytes a GGUF file's tensors take as stored (storedKind for matrices, f32 for the rest). */
export function ggufStoredBytes(g: GGUFFile): number {
  let bytes = 0;
  for (const t of g.tensors) {
    const n = t.dims.reduce((a, b) => a * b, 1);
    bytes += t.dims.length === 2 ? matrixBytes(n, storedKind(t.type), t.dims[0]) : 4 * n;
  }
  return bytes;
}

/** No tensor of a block at or past block_count: the file and its metadata disagree. */
export function checkBlockCount(g: GGUFFile, nLayer: number): void {
  for (const t of g.tensors) {
    const layer = /^blk\.(\d+)\./.exec(t.name);
    if (layer !== null && Number(layer[1]) >= nLayer) throw new UserError(`${g.file}: tensor ${t.name} is beyond block_count ${nLayer}`);
  }
}

/**
 * Reads a GGUF file's tensors into the backend's memory, each straight from disk through one
 * read buffer; ggml stores matrices row by row with the input dimension first, already the
 * engine's (out, in) layout. Each matrix is stored as `dtype` says, or when it is null as its
 * tensors' types say (stackedKind). Q8_0/Q5_0/Q4_0 blocks go into q8 matrices as they are, Q4_0
 * blocks into q4 matrices (nibbles as they are, the f16 scale widened to f32), Q5_0 blocks into
 * q5 matrices, Q4_K blocks into q4k matrices and Q6_K blocks into q6k matrices (repacked,
 * kernels/q5.ts, kernels/q4k.ts, kernels/q6k.ts); every other pairing is decoded to f32 exactly as
 * ggml does and goes through a small staging buffer a few rows at a time, into the matrix's
 * storage (so Q5_K, Q4_1... are requantized for q8). Every value is checked for NaN/Inf.
 * `stacked` lays several tensors' rows one after another, each through its row map (how q, k, v
 * become one projection, and how interleaved RoPE rows are put back).
 */
export class GGUFTensors {
  private readonly byName: ReadonlyMap<string, GGUFTensorInfo>;
  private readonly chunk = new Uint8Array(READ_CHUNK);
  private staging: Float32Array | null = null;

  constructor(
    private readonly g: GGUFFile,
    private readonly backend: Backend,
    private readonly dtype: WeightDType | null,
  ) {
    this.byName = new Map(g.tensors.map((t) => [t.name, t]));
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  tensor(name: string, dims: readonly number[]): GGUFTensorInfo & { readonly type: ReadableGGMLType } {
    return checkedGGUFTensor(this.g, this.byName.get(name), name, dims);
  }

  /** A tensor of any shape as f32, in ggml's order (position embeddings, norms, biases). */
  floats(name: string, dims: readonly number[]): Float32Array {
    const t = this.tensor(name, dims);
    const out = this.backend.allocF32(dims.reduce((a, b) => a * b, 1));
    const cols = dims[0];
    readTensorRows(t, this.chunk, (bytes, firstRow, rows) => {
      decodeF32(t.type, bytes, rows * cols, out, firstRow * cols);
      checkFinite(out.subarray(firstRow * cols), rows * cols, () => `${this.g.file}: tensor ${name}`, firstRow * cols);
    });
    return out;
  }

  vector(name: string, length: number): Float32Array {
    return this.floats(name, [length]);
  }

  /** Vectors end to end (the biases of a stacked matrix), each through its own row map. */
  stackedVector(parts: readonly { name: string; length: number; map: RowMap }[]): Float32Array {
    const out = this.backend.allocF32(parts.reduce((a, p) => a + p.length, 0));
    let at = 0;
    for (const p of parts) {
      const values = this.floats(p.name, [p.length]);
      for (let i = 0; i < p.length; i++) out[at + (p.map === null ? i : p.map(i))] = values[i];
      at += p.length;
    }
    return out;
  }

  matrix(name: string, rows: number, cols: number): Matrix {
    return this.stacked([{ name, rows, map: null }], cols);
  }

  /** One (Σ rows, cols) matrix whose rows are each part's (rows, cols) tensor's rows in turn. */
  stacked(parts: readonly { name: string; rows: number; map: RowMap }[], cols: number): Matrix {
    const { backend, g } = this;
    const tensors = parts.map((p) => this.tensor(p.name, [cols, p.rows]));
    const m = allocMatrix(backend, parts.reduce((a, p) => a + p.rows, 0), cols, this.dtype ?? stackedKind(tensors.map((t) => t.type)));
    let first = 0;
    for (const [i, p] of parts.entries()) {
      const t = tensors[i];
      const type = t.type;
      const dest = (r: number) => first + (p.map === null ? r : p.map(r));
      const where = () => `${g.file}: tensor ${p.name}`;
      if (m.kind === "f32" && p.map === null) {
        // Decoded straight into the matrix: no staging.
        readTensorRows(t, this.chunk, (bytes, firstRow, rows) => {
          decodeF32(type, bytes, rows * cols, m.data, (first + firstRow) * cols);
          checkFinite(m.data.subarray((first + firstRow) * cols), rows * cols, where, firstRow * cols);
        });
      } else if (m.kind === "q8" && isIntBlockType(type)) {
        // Already integers with a scale per 32: copied as is, never requantized.
        const blocks = cols / 32;
        readTensorRows(t, this.chunk, (bytes, firstRow, rows) => {
          const rowBytes = bytes.length / rows;
          for (let r = 0; r < rows; r++) {
            const d = dest(firstRow + r);
            decodeBlocksToQ8(type, bytes.subarray(r * rowBytes, (r + 1) * rowBytes), blocks, m.q, d * cols, m.scales, d * blocks);
            checkFinite(m.scales.subarray(d * blocks), blocks, () => `${where()} (block scales)`, (firstRow + r) * blocks);
          }
        });
      } else if (m.kind === "q4" && type === GGMLType.Q4_0) {
        const blocks = cols / 32;
        readTensorRows(t, this.chunk, (bytes, firstRow, rows) => {
          const rowBytes = bytes.length / rows;
          for (let r = 0; r < rows; r++) {
            const d = dest(firstRow + r);
            copyQ4Blocks(bytes.subarray(r * rowBytes, (r + 1) * rowBytes), blocks, m.q, (d * cols) / 2, m.scales, d * blocks);
            checkFinite(m.scales.subarray(d * blocks), blocks, () => `${where()} (block scales)`, (firstRow + r) * blocks);
          }
        });
      } else if (m.kind === "q5" && type === GGMLType.Q5_0) {
        const blocks = cols / 32;
        readTensorRows(t, this.chunk, (bytes, firstRow, rows) => {
          const rowBytes = bytes.length / rows;
          for (let r = 0; r < rows; r++) {
            const d = dest(firstRow + r);
            copyQ5Blocks(bytes, r * rowBytes, blocks, m, d, 0);
            checkFinite(m.scales.subarray(d * blocks), blocks, () => `${where()} (block scales)`, (firstRow + r) * blocks);
          }
        });
      } else if (m.kind === "q4k" && type === GGMLType.Q4_K) {
        const supers = cols / Q4K_BLOCK;
        readTensorRows(t, this.chunk, (bytes, firstRow, rows) => {
          const rowBytes = bytes.length / rows;
          for (let r = 0; r < rows; r++) {
            const d = dest(firstRow + r);
            copyQ4KBlocks(bytes.subarray(r * rowBytes, (r + 1) * rowBytes), 0, supers, m, d * supers);
            checkFinite(m.superScales.subarray(2 * d * supers), 2 * supers, () => `${where()} (super-block scales)`, 2 * (firstRow + r) * supers);
          }
        });
      } else if (m.kind === "q6k" && type === GGMLType.Q6_K) {
        const supers = cols / Q6K_BLOCK;
        readTensorRows(t, this.chunk, (bytes, firstRow, rows) => {
          const rowBytes = bytes.length / rows;
          for (let r = 0; r < rows; r++) {
            const d = dest(firstRow + r);
            copyQ6KBlocks(bytes.subarray(r * rowBytes, (r + 1) * rowBytes), 0, supers, m, d * supers);
            checkFinite(m.superScales.subarray(d * supers), supers, () => `${where()} (super-block scales)`, (firstRow + r) * supers);
          }
        });
      } else {
        const stage = this.stage(cols);
        const sliceRows = Math.floor(stage.length / cols);
        readTensorRows(t, this.chunk, (bytes, firstRow, rows) => {
          const rowBytes = bytes.length / rows;
          for (let r = 0; r < rows; r += sliceRows) {
            const n = Math.min(sliceRows, rows - r);
            decodeF32(type, bytes.subarray(r * rowBytes, (r + n) * rowBytes), n * cols, stage, 0);
            checkFinite(stage, n * cols, where, (firstRow + r) * cols);
            if (p.map === null) backend.writeMatrixRows(m, dest(firstRow + r), stage, n);
            else for (let i = 0; i < n; i++) backend.writeMatrixRows(m, dest(firstRow + r + i), stage.subarray(i * cols, (i + 1) * cols), 1);
          }
        });
      }
      first += p.rows;
    }
    return m;
  }

  /** The backend's staging buffer (so its kernels can convert from it), holding at least one row. */
  private stage(cols: number): Float32Array {
    if (this.staging === null || this.staging.length < cols) this.staging = this.backend.allocF32(Math.max(STAGING_FLOATS, cols));
    return this.staging;
  }
}

/** A Q4_0 block on disk: an f16 scale, then 16 bytes of nibbles. */
const Q4_0_SCALE_BYTES = 2;
const Q4_0_NIBBLE_BYTES = 16;

/** Q4_0 blocks (f16 scale, 16 bytes of nibbles) → a q4 matrix's nibbles, unchanged, and f32 scales. */
function copyQ4Blocks(bytes: Uint8Array, blocks: number, q: Int8Array, qOffset: number, scales: Float32Array, scaleOffset: number): void {
  const table = f16Table();
  const nibbles = new Int8Array(bytes.buffer, bytes.byteOffset, bytes.length);
  for (let b = 0; b < blocks; b++) {
    const o = b * (Q4_0_SCALE_BYTES + Q4_0_NIBBLE_BYTES);
    scales[scaleOffset + b] = table[bytes[o] | (bytes[o + 1] << 8)];
    q.set(nibbles.subarray(o + Q4_0_SCALE_BYTES, o + Q4_0_SCALE_BYTES + Q4_0_NIBBLE_BYTES), qOffset + b * Q4_0_NIBBLE_BYTES);
  }
}
