import fs from "node:fs";
import { UserError } from "../errors.js";
import { GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, GGUF_VERSION, GGUFValueType, alignUp, ggmlByteSize, type GGUFEntry, type WritableGGMLType } from "./gguf.js";

/** One tensor to write: its ggml shape (row length first), type, and a producer of its bytes. */
export interface GGUFTensorPlan {
  readonly name: string;
  readonly dims: readonly number[];
  readonly type: WritableGGMLType;
  /** Calls `emit` with the encoded bytes in order; buffers may be reused after emit returns. */
  readonly write: (emit: (bytes: Uint8Array) => void) => void;
}

/** Serializes metadata and tensor descriptions into the header bytes. */
class HeaderBuilder {
  private readonly parts: Buffer[] = [];
  get length(): number {
    return this.parts.reduce((n, p) => n + p.length, 0);
  }
  u32(v: number): void {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v);
    this.parts.push(b);
  }
  u64(v: number): void {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(v));
    this.parts.push(b);
  }
  string(s: string): void {
    const bytes = Buffer.from(s, "utf8");
    this.u64(bytes.length);
    this.parts.push(bytes);
  }
  entry(key: string, e: GGUFEntry): void {
    this.string(key);
    const b = Buffer.alloc(4);
    switch (e.type) {
      case "string":
        this.u32(GGUFValueType.STRING);
        this.string(e.value);
        return;
      case "u32":
        this.u32(GGUFValueType.UINT32);
        this.u32(Number(e.value));
        return;
      case "i32":
        this.u32(GGUFValueType.INT32);
        b.writeInt32LE(Number(e.value));
        this.parts.push(b);
        return;
      case "f32":
        this.u32(GGUFValueType.FLOAT32);
        b.writeFloatLE(Number(e.value));
        this.parts.push(b);
        return;
      case "bool":
        this.u32(GGUFValueType.BOOL);
        this.parts.push(Buffer.from([e.value ? 1 : 0]));
        return;
      case "string[]":
        this.u32(GGUFValueType.ARRAY);
        this.u32(GGUFValueType.STRING);
        this.u64(e.value.length);
        for (const s of e.value) this.string(s);
        return;
      case "i32[]": {
        this.u32(GGUFValueType.ARRAY);
        this.u32(GGUFValueType.INT32);
        this.u64(e.value.length);
        const arr = Buffer.alloc(4 * e.value.length);
        e.value.forEach((v, i) => arr.writeInt32LE(v, 4 * i));
        this.parts.push(arr);
        return;
      }
      case "f32[]": {
        this.u32(GGUFValueType.ARRAY);
        this.u32(GGUFValueType.FLOAT32);
        this.u64(e.value.length);
        const arr = Buffer.alloc(4 * e.value.length);
        e.value.forEach((v, i) => arr.writeFloatLE(v, 4 * i));
        this.parts.push(arr);
        return;
      }
    }
  }
  concat(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/**
 * Writes a GGUF v3 file, streaming each tensor's bytes straight to disk. The file appears under
 * its name only once complete (written as NAME.tmp, then renamed), so an interrupted convert
 * never leaves a file that looks finished.
 */
export function writeGGUF(file: string, metadata: readonly (readonly [string, GGUFEntry])[], tensors: readonly GGUFTensorPlan[]): void {
  const alignment = GGUF_DEFAULT_ALIGNMENT;
  const header = new HeaderBuilder();
  header.u32(GGUF_MAGIC);
  header.u32(GGUF_VERSION);
  header.u64(tensors.length);
  header.u64(metadata.length);
  for (const [key, entry] of metadata) header.entry(key, entry);
  const sizes = tensors.map((t) => ggmlByteSize(t.type, t.dims.reduce((a, b) => a * b, 1)));
  let offset = 0;
  const offsets: number[] = [];
  tensors.forEach((t, i) => {
    header.string(t.name);
    header.u32(t.dims.length);
    for (const d of t.dims) header.u64(d);
    header.u32(t.type);
    header.u64(offset);
    offsets.push(offset);
    offset = alignUp(offset + sizes[i], alignment);
  });

  const tmp = `${file}.tmp`;
  let fd: number;
  try {
    fd = fs.openSync(tmp, "w");
  } catch (e) {
    throw new UserError(`cannot write ${file}: ${(e as Error).message}`);
  }
  try {
    const head = header.concat();
    fs.writeSync(fd, head);
    let pos = head.length;
    const pad = (to: number): void => {
      if (to > pos) fs.writeSync(fd, Buffer.alloc(to - pos));
      pos = to;
    };
    const dataStart = alignUp(pos, alignment);
    pad(dataStart);
    tensors.forEach((t, i) => {
      pad(dataStart + offsets[i]);
      const end = pos + sizes[i];
      t.write((bytes) => {
        if (pos + bytes.length > end) throw new Error(`tensor ${t.name}: producer wrote more than its ${sizes[i]} bytes`);
        fs.writeSync(fd, bytes);
        pos += bytes.length;
      });
      if (pos !== end) throw new Error(`tensor ${t.name}: producer wrote ${sizes[i] - (end - pos)} of ${sizes[i]} bytes`);
    });
    // ggml's own writer pads the last tensor too; readers may expect whole aligned blocks.
    pad(dataStart + offset);
  } catch (e) {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  fs.closeSync(fd);
  fs.renameSync(tmp, file);
}
