import { UserError } from "../errors.js";
import { f16Table } from "../numeric/half.js";
import { baseName, readFully, type ByteSource } from "./byte-source.js";

/**
 * safetensors: an 8-byte little-endian header length, a JSON header mapping tensor names to
 * {dtype, shape, data_offsets: [begin, end]} relative to the data section, then the raw data.
 * We read the header eagerly and every tensor on demand, so a big checkpoint is never held
 * in memory twice: each tensor is converted straight into the buffer that keeps it. The file is
 * a ByteSource (a file on disk, or a download in memory); safetensors.ts opens files on disk.
 */

export type DType = "F32" | "F16" | "BF16";
const BYTES_PER_ELEMENT: Record<DType, number> = { F32: 4, F16: 2, BF16: 2 };
const MAX_HEADER_BYTES = 100 * 1024 * 1024;

export interface TensorInfo {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly file: string; // the source's name
  readonly source: ByteSource;
  readonly byteOffset: number; // absolute offset in `file`
  readonly byteLength: number;
}

/** Reads and validates the header of one .safetensors file. */
export function parseSafetensorsHeader(source: ByteSource): TensorInfo[] {
  const name = baseName(source.name);
  const fileSize = source.size;
  if (fileSize < 8) throw new UserError(`${name}: file is ${fileSize} bytes, too short for a safetensors header`);
  const lenBuf = new Uint8Array(8);
  readFully(source, lenBuf, 0, name);
  const headerLenBig = new DataView(lenBuf.buffer).getBigUint64(0, true);
  const headerLen = Number(headerLenBig);
  if (headerLen > fileSize - 8 || headerLen > MAX_HEADER_BYTES) {
    throw new UserError(`${name}: header length ${headerLenBig} runs past the end of the ${fileSize}-byte file (truncated or not safetensors)`);
  }
  const headerBuf = new Uint8Array(headerLen);
  readFully(source, headerBuf, 8, name);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder().decode(headerBuf));
  } catch (e) {
    throw new UserError(`${name}: header is not valid JSON (${(e as Error).message})`);
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) {
    throw new UserError(`${name}: header is not a JSON object`);
  }
  const dataStart = 8 + headerLen;
  const dataSize = fileSize - dataStart;
  const tensors: TensorInfo[] = [];
  for (const [tensorName, entry] of Object.entries(header)) {
    if (tensorName === "__metadata__") continue;
    tensors.push(parseEntry(name, source, tensorName, entry, dataStart, dataSize));
  }
  checkNoOverlap(name, tensors);
  return tensors;
}

function parseEntry(fileName: string, source: ByteSource, tensorName: string, entry: unknown, dataStart: number, dataSize: number): TensorInfo {
  const where = `${fileName}: tensor ${tensorName}`;
  if (typeof entry !== "object" || entry === null) throw new UserError(`${where}: entry is not an object`);
  const { dtype, shape, data_offsets: offsets } = entry as Record<string, unknown>;
  if (typeof dtype !== "string") throw new UserError(`${where}: missing dtype`);
  if (!(dtype in BYTES_PER_ELEMENT)) throw new UserError(`${where}: unsupported dtype ${dtype} (supported: F32, F16, BF16)`);
  if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) throw new UserError(`${where}: invalid shape ${JSON.stringify(shape)}`);
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isInteger(o) && o >= 0)) {
    throw new UserError(`${where}: invalid data_offsets ${JSON.stringify(offsets)}`);
  }
  const [begin, end] = offsets as [number, number];
  if (end < begin || end > dataSize) {
    throw new UserError(`${where}: data_offsets [${begin}, ${end}] out of range (data section is ${dataSize} bytes)`);
  }
  const numel = (shape as number[]).reduce((a, b) => a * b, 1);
  const expected = numel * BYTES_PER_ELEMENT[dtype as DType];
  if (expected !== end - begin) {
    throw new UserError(`${where}: shape [${(shape as number[]).join(", ")}] × ${dtype} needs ${expected} bytes but data_offsets span ${end - begin}`);
  }
  return { name: tensorName, dtype: dtype as DType, shape: shape as number[], file: source.name, source, byteOffset: dataStart + begin, byteLength: end - begin };
}

function checkNoOverlap(fileName: string, tensors: TensorInfo[]): void {
  const sorted = [...tensors].sort((a, b) => a.byteOffset - b.byteOffset);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1];
    if (sorted[i].byteOffset < prev.byteOffset + prev.byteLength) {
      throw new UserError(`${fileName}: tensors ${prev.name} and ${sorted[i].name} overlap`);
    }
  }
}

export function numElements(info: TensorInfo): number {
  return info.byteLength / BYTES_PER_ELEMENT[info.dtype];
}

/**
 * Reads tensors of a checkpoint, each file opened once however many reads it serves (a Conv1D
 * matrix is read in slices of 32 input rows: thousands of reads for GPT-2). close() when done.
 */
export class TensorReader {
  private readonly used = new Set<ByteSource>();

  /**
   * Reads elements [start, start + count) of one tensor (default: all of it) from disk into
   * `out` as f32, widening F16/BF16. No staging buffer: F32 is read straight into `out`, halves
   * into the upper half of the destination bytes and widened in place, front to back (value i
   * lands on bytes [4i, 4i + 4), which only ever overlap halves already read).
   */
  readF32(info: TensorInfo, out: Float32Array, start = 0, count = numElements(info) - start): void {
    if (start < 0 || count < 0 || start + count > numElements(info)) throw new Error(`readF32: range [${start}, ${start + count}) outside ${info.name}`);
    if (out.length < count) throw new Error(`readF32: destination for ${info.name} holds ${out.length} < ${count} floats`);
    const bpe = BYTES_PER_ELEMENT[info.dtype];
    const bytes = count * bpe;
    const into = new Uint8Array(out.buffer, out.byteOffset + count * 4 - bytes, bytes);
    this.used.add(info.source);
    readFully(info.source, into, info.byteOffset + start * bpe, `${baseName(info.file)}: tensor ${info.name}`);
    if (info.dtype !== "F32") {
      const halves = new Uint16Array(out.buffer, out.byteOffset + count * 2, count);
      if (info.dtype === "F16") {
        const table = f16Table();
        for (let i = 0; i < count; i++) out[i] = table[halves[i]];
      } else {
        const bits = new Uint32Array(out.buffer, out.byteOffset, count);
        for (let i = 0; i < count; i++) bits[i] = halves[i] << 16;
      }
    }
    checkFinite(out, count, () => `${baseName(info.file)}: tensor ${info.name}`, start);
  }

  close(): void {
    for (const source of this.used) source.close();
    this.used.clear();
  }
}

/**
 * Refuses a NaN or infinite weight: one poisons every logit it reaches, and generation then
 * "works" (greedy repeats token 0, sampling ends at once) with nothing saying why. x * 0 is 0
 * for every finite x and NaN otherwise, so one sum answers for the slice (four sums, to not
 * wait on one add chain, which keeps the check a small part of a load); only a bad slice is searched for the
 * element to name.
 */
export function checkFinite(values: Float32Array, count: number, where: () => string, firstIndex = 0): void {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let i = 0;
  for (; i + 4 <= count; i += 4) {
    s0 += values[i] * 0;
    s1 += values[i + 1] * 0;
    s2 += values[i + 2] * 0;
    s3 += values[i + 3] * 0;
  }
  for (; i < count; i++) s0 += values[i] * 0;
  if (s0 + s1 + s2 + s3 === 0) return;
  for (let i = 0; i < count; i++) {
    if (!Number.isFinite(values[i])) throw new UserError(`${where()} holds ${values[i]} at element ${firstIndex + i} (a corrupt or diverged checkpoint)`);
  }
}
