import { UserError } from "../errors.js";
import { readFully, type ByteSource } from "./byte-source.js";
import {
  GGML_MAX_DIMS,
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_MAGIC,
  GGUF_READABLE_VERSIONS,
  GGUFValueType,
  ggmlTypeLayout,
  ggmlTypeName,
  type GGUFScalar,
  type GGUFValue,
} from "./gguf.js";

/**
 * Reads a GGUF header through a small window of the file, never the whole file: metadata and
 * tensor descriptions are parsed eagerly, tensor data is read later, one tensor at a time.
 * Every count and length is checked against the bytes left, so a corrupt file fails with a
 * message naming it instead of a giant allocation. The file is a ByteSource (a file on disk, or
 * a download in memory); gguf-read.ts opens files on disk.
 */

export interface GGUFTensorInfo {
  readonly name: string;
  /** ggml order: dims[0] is the length of a row (the fastest-varying dimension). */
  readonly dims: readonly number[];
  readonly type: number;
  readonly file: string; // the source's name
  readonly source: ByteSource;
  readonly byteOffset: number; // absolute offset in `file`
  readonly byteLength: number;
}

export interface GGUFFile {
  readonly file: string; // the source's name
  readonly source: ByteSource;
  readonly version: number;
  readonly fileSize: number;
  readonly alignment: number;
  readonly dataOffset: number;
  readonly metadata: ReadonlyMap<string, GGUFValue>;
  readonly tensors: readonly GGUFTensorInfo[];
}

const WINDOW = 1 << 20;
/** The fewest bytes a metadata entry (key length, empty key, type, u8 value) or tensor description takes. */
const MIN_KV_BYTES = 8 + 4 + 1;
const MIN_TENSOR_INFO_BYTES = 8 + 4 + 4 + 8;
const SCALAR_BYTES: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };

class HeaderReader {
  private readonly window = new Uint8Array(WINDOW);
  private windowStart = 0;
  private windowEnd = 0; // file offsets [windowStart, windowEnd) are in `window`
  // ignoreBOM keeps a leading U+FEFF: it is a token of its own in SentencePiece vocabularies.
  private readonly decoder = new TextDecoder("utf-8", { ignoreBOM: true });
  pos = 0;

  constructor(private readonly source: ByteSource, readonly size: number, readonly file: string) {}

  get remaining(): number {
    return this.size - this.pos;
  }

  /** The next n bytes, as a view valid until the next read. */
  private bytes(n: number, what: string): DataView {
    if (n > this.remaining) throw new UserError(`${this.file}: truncated: ${what} at byte ${this.pos} needs ${n} bytes but the file ends at ${this.size}`);
    const start = this.pos;
    this.pos += n;
    if (start >= this.windowStart && start + n <= this.windowEnd) return new DataView(this.window.buffer, start - this.windowStart, n);
    // Only a string longer than the window (a huge chat template) gets a buffer of its own.
    const target = n > WINDOW ? new Uint8Array(n) : this.window;
    const got = this.source.read(target.subarray(0, Math.min(target.length, this.size - start)), start);
    if (got < n) throw new UserError(`${this.file}: truncated: short read at byte ${start}`);
    if (target === this.window) {
      this.windowStart = start;
      this.windowEnd = start + got;
    }
    return new DataView(target.buffer, 0, n);
  }

  u32(what: string): number {
    return this.bytes(4, what).getUint32(0, true);
  }
  /** A u64 that must fit a JS number (counts, lengths, offsets). */
  size64(what: string): number {
    const v = this.bytes(8, what).getBigUint64(0, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new UserError(`${this.file}: ${what} ${v} is impossibly large (corrupt file)`);
    return Number(v);
  }
  scalar(type: number, what: string): GGUFScalar {
    switch (type) {
      case GGUFValueType.UINT8: return this.bytes(1, what).getUint8(0);
      case GGUFValueType.INT8: return this.bytes(1, what).getInt8(0);
      case GGUFValueType.UINT16: return this.bytes(2, what).getUint16(0, true);
      case GGUFValueType.INT16: return this.bytes(2, what).getInt16(0, true);
      case GGUFValueType.UINT32: return this.bytes(4, what).getUint32(0, true);
      case GGUFValueType.INT32: return this.bytes(4, what).getInt32(0, true);
      case GGUFValueType.FLOAT32: return this.bytes(4, what).getFloat32(0, true);
      case GGUFValueType.BOOL: return this.bytes(1, what).getUint8(0) !== 0;
      case GGUFValueType.UINT64: return safeNumber(this.bytes(8, what).getBigUint64(0, true));
      case GGUFValueType.INT64: return safeNumber(this.bytes(8, what).getBigInt64(0, true));
      case GGUFValueType.FLOAT64: return this.bytes(8, what).getFloat64(0, true);
      case GGUFValueType.STRING: return this.string(what);
      default: throw new UserError(`${this.file}: ${what} has unknown value type ${type} (corrupt file or a newer GGUF)`);
    }
  }
  string(what: string): string {
    const len = this.stringLength(what);
    if (len === 0) return "";
    const v = this.bytes(len, what);
    return this.decoder.decode(new Uint8Array(v.buffer, v.byteOffset, len));
  }
  private stringLength(what: string): number {
    const len = this.size64(`length of ${what}`);
    if (len > this.remaining) throw new UserError(`${this.file}: ${what}: string length ${len} runs past the end of the ${this.size}-byte file`);
    return len;
  }
  /** Steps over a value of a scalar type (strings included) without decoding it. */
  skipScalar(type: number, what: string): void {
    if (type !== GGUFValueType.STRING) {
      this.scalar(type, what);
      return;
    }
    const len = this.stringLength(what); // reads the length first: pos moves past it
    this.pos += len;
  }
}

function safeNumber(v: bigint): number | bigint {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

/** A metadata value; arrays are checked and stepped over when `arrays` is "skip" (then undefined). */
function readValue(r: HeaderReader, type: number, key: string, arrays: "read" | "skip"): GGUFValue | undefined {
  if (type !== GGUFValueType.ARRAY) return r.scalar(type, `value of ${key}`);
  const elemType = r.u32(`element type of ${key}`);
  if (elemType === GGUFValueType.ARRAY) throw new UserError(`${r.file}: ${key}: nested arrays are not supported`);
  const count = r.size64(`element count of ${key}`);
  const minBytes = elemType === GGUFValueType.STRING ? 8 : SCALAR_BYTES[elemType] ?? 1;
  if (count * minBytes > r.remaining) {
    throw new UserError(`${r.file}: ${key}: array count ${count} is larger than the file (${r.remaining} bytes left)`);
  }
  if (arrays === "skip") {
    for (let i = 0; i < count; i++) r.skipScalar(elemType, `${key}[${i}]`);
    return undefined;
  }
  const values: GGUFScalar[] = new Array<GGUFScalar>(count);
  for (let i = 0; i < count; i++) values[i] = r.scalar(elemType, `${key}[${i}]`);
  return values;
}

/**
 * Parses and validates the header and tensor table of a GGUF file. With `arrays: "skip"`, array
 * values (the tokenizer's 50k tokens and merges) are stepped over and left out of `metadata`:
 * the weights need none of them, and decoding them makes 100k short-lived strings.
 */
export function parseGGUF(source: ByteSource, options: { arrays?: "read" | "skip" } = {}): GGUFFile {
  const file = source.name;
  const size = source.size;
  const r = new HeaderReader(source, size, file);
  if (size < 4 || r.u32("magic") !== GGUF_MAGIC) throw new UserError(`${file}: not a GGUF file (bad magic; expected "GGUF")`);
  const version = r.u32("version");
  if (!GGUF_READABLE_VERSIONS.includes(version)) {
    const swapped = ((version & 0xff) << 24) | ((version & 0xff00) << 8) | ((version >>> 8) & 0xff00) | (version >>> 24);
    if (GGUF_READABLE_VERSIONS.includes(swapped)) throw new UserError(`${file}: big-endian GGUF files are not supported`);
    throw new UserError(`${file}: GGUF version ${version} is not supported (supported: ${GGUF_READABLE_VERSIONS.join(", ")})`);
  }
  const tensorCount = r.size64("tensor count");
  const kvCount = r.size64("metadata count");
  if (tensorCount * MIN_TENSOR_INFO_BYTES > r.remaining) throw new UserError(`${file}: tensor count ${tensorCount} is larger than the ${size}-byte file allows`);
  if (kvCount * MIN_KV_BYTES > r.remaining) throw new UserError(`${file}: metadata count ${kvCount} is larger than the ${size}-byte file allows`);

  const metadata = new Map<string, GGUFValue>();
  for (let i = 0; i < kvCount; i++) {
    const key = r.string(`metadata key #${i}`);
    const type = r.u32(`type of ${key}`);
    const value = readValue(r, type, key, options.arrays ?? "read");
    if (value !== undefined) metadata.set(key, value);
  }

  const alignValue = metadata.get("general.alignment") ?? GGUF_DEFAULT_ALIGNMENT;
  if (typeof alignValue !== "number" || !Number.isInteger(alignValue) || alignValue <= 0 || (alignValue & (alignValue - 1)) !== 0) {
    throw new UserError(`${file}: general.alignment ${String(alignValue)} is not a power of two`);
  }
  const alignment = alignValue;

  const infos: { name: string; dims: number[]; type: number; offset: number }[] = [];
  for (let i = 0; i < tensorCount; i++) {
    const tensorName = r.string(`name of tensor #${i}`);
    const nDims = r.u32(`dimension count of ${tensorName}`);
    if (nDims < 1 || nDims > GGML_MAX_DIMS) throw new UserError(`${file}: tensor ${tensorName} has ${nDims} dimensions (1 to ${GGML_MAX_DIMS} allowed)`);
    const dims: number[] = [];
    for (let d = 0; d < nDims; d++) dims.push(r.size64(`dimension ${d} of ${tensorName}`));
    const type = r.u32(`type of ${tensorName}`);
    const offset = r.size64(`data offset of ${tensorName}`);
    infos.push({ name: tensorName, dims, type, offset });
  }

  const dataOffset = Math.ceil(r.pos / alignment) * alignment;
  if (tensorCount > 0 && dataOffset > size) throw new UserError(`${file}: truncated: the tensor data should start at byte ${dataOffset} but the file is ${size} bytes`);
  const tensors = infos.map((t) => tensorInfo(source, t, dataOffset, alignment, size));
  checkNoOverlap(file, tensors);
  return { file, source, version, fileSize: size, alignment, dataOffset, metadata, tensors };
}

function tensorInfo(source: ByteSource, t: { name: string; dims: number[]; type: number; offset: number }, dataOffset: number, alignment: number, size: number): GGUFTensorInfo {
  const file = source.name;
  const where = `${file}: tensor ${t.name}`;
  const layout = ggmlTypeLayout(t.type);
  if (layout === null) throw new UserError(`${where} has unknown ggml type ${t.type} (corrupt file or a newer GGUF)`);
  const elements = t.dims.reduce((a, b) => a * b, 1);
  if (!Number.isSafeInteger(elements)) throw new UserError(`${where}: shape [${t.dims.join(", ")}] is impossibly large`);
  if (t.dims[0] % layout.blockSize !== 0) {
    throw new UserError(`${where}: row length ${t.dims[0]} is not a multiple of the ${ggmlTypeName(t.type)} block size ${layout.blockSize}`);
  }
  if (t.offset % alignment !== 0) throw new UserError(`${where}: data offset ${t.offset} is not a multiple of the alignment ${alignment} (misaligned)`);
  const byteLength = (elements / layout.blockSize) * layout.typeSize;
  const byteOffset = dataOffset + t.offset;
  if (byteOffset + byteLength > size) {
    throw new UserError(`${where} (${ggmlTypeName(t.type)} [${t.dims.join(", ")}], bytes ${byteOffset}..${byteOffset + byteLength}) runs past the end of the ${size}-byte file (truncated?)`);
  }
  return { name: t.name, dims: t.dims, type: t.type, file, source, byteOffset, byteLength };
}

function checkNoOverlap(file: string, tensors: readonly GGUFTensorInfo[]): void {
  const sorted = [...tensors].sort((a, b) => a.byteOffset - b.byteOffset);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1];
    if (sorted[i].byteOffset < prev.byteOffset + prev.byteLength) throw new UserError(`${file}: tensors ${prev.name} and ${sorted[i].name} overlap`);
  }
  const names = new Set<string>();
  for (const t of tensors) {
    if (names.has(t.name)) throw new UserError(`${file}: tensor ${t.name} appears twice`);
    names.add(t.name);
  }
}

/**
 * Reads a tensor's raw bytes in pieces of whole rows, as many as fit `buf` (which the caller
 * reuses across tensors; a row larger than it gets a buffer of its own), and hands each piece
 * to `onRows` with the index of its first row.
 */
export function readTensorRows(t: GGUFTensorInfo, buf: Uint8Array, onRows: (bytes: Uint8Array, firstRow: number, rows: number) => void): void {
  const rowCount = t.dims.slice(1).reduce((a, b) => a * b, 1);
  const rowBytes = t.byteLength / rowCount;
  const into = rowBytes > buf.length ? new Uint8Array(rowBytes) : buf;
  const rowsPerRead = Math.floor(into.length / rowBytes);
  try {
    for (let row = 0; row < rowCount; row += rowsPerRead) {
      const rows = Math.min(rowsPerRead, rowCount - row);
      const bytes = into.subarray(0, rows * rowBytes);
      readFully(t.source, bytes, t.byteOffset + row * rowBytes, `${t.file}: tensor ${t.name}`);
      onRows(bytes, row, rows);
    }
  } finally {
    t.source.close();
  }
}

/** A metadata value as a non-negative integer, or an error naming the key. */
export function metaInt(g: GGUFFile, key: string, fallback?: number): number {
  const v = g.metadata.get(key) ?? fallback;
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0) throw new UserError(`${g.file}: metadata ${key} ${v === undefined ? "is missing" : `must be a non-negative integer, got ${JSON.stringify(String(v))}`}`);
  return v;
}

export function metaString(g: GGUFFile, key: string): string | null {
  const v = g.metadata.get(key);
  if (v === undefined) return null;
  if (typeof v !== "string") throw new UserError(`${g.file}: metadata ${key} must be a string`);
  return v;
}

export function metaStringArray(g: GGUFFile, key: string): string[] {
  const v = g.metadata.get(key);
  if (!Array.isArray(v) || !v.every((x): x is string => typeof x === "string")) throw new UserError(`${g.file}: metadata ${key} must be an array of strings`);
  return v;
}
