/**
 * The F32 twin of a GGUF file: the same header and metadata, every tensor decoded (as ggml
 * does, bit for bit) and stored as F32. llama.cpp runs a quantized file with quantized
 * activations (Q8_0 or Q8_K) in its dot products, so its tokens may split from this engine's at
 * near-ties; on the twin it computes in f32 from exactly the weights this engine decoded, so the
 * two must agree as f32 files do: that checks the decoding and the layout against llama.cpp itself.
 */
import fs from "node:fs";
import { GGMLType, alignUp, ggmlTypeName, isReadableType } from "../../src/io/gguf.js";
import { decodeF32 } from "../../src/io/gguf-quant.js";
import { readGGUF, readTensorRows } from "../../src/io/gguf-read.js";

export function writeF32Twin(src: string, dst: string): string {
  const g = readGGUF(src);
  const bytes = fs.readFileSync(src);
  // The metadata is copied byte for byte: it ends where the first tensor description starts.
  const first = g.tensors[0];
  const name = Buffer.from(first.name);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(name.length));
  const infoStart = bytes.indexOf(Buffer.concat([len, name]), 24);
  if (infoStart < 0) throw new Error(`${src}: cannot find the tensor table`);
  const header = Buffer.from(bytes.subarray(0, infoStart));
  const infos: Buffer[] = [];
  let offset = 0;
  for (const t of g.tensors) {
    const n = Buffer.from(t.name);
    const info = Buffer.alloc(8 + n.length + 4 + 8 * t.dims.length + 4 + 8);
    let at = info.writeBigUInt64LE(BigInt(n.length), 0);
    at += n.copy(info, at);
    at = info.writeUInt32LE(t.dims.length, at);
    for (const d of t.dims) at = info.writeBigUInt64LE(BigInt(d), at);
    at = info.writeUInt32LE(GGMLType.F32, at);
    info.writeBigUInt64LE(BigInt(offset), at);
    infos.push(info);
    offset = alignUp(offset + 4 * t.dims.reduce((a, b) => a * b, 1), g.alignment);
  }
  const head = Buffer.concat([header, ...infos]);
  const out = Buffer.alloc(alignUp(head.length, g.alignment) + offset);
  head.copy(out, 0);
  const dataStart = alignUp(head.length, g.alignment);
  let o = dataStart;
  for (const t of g.tensors) {
    const count = t.dims.reduce((a, b) => a * b, 1);
    const values = new Float32Array(out.buffer, out.byteOffset + o, count);
    const cols = t.dims[0];
    const type = t.type;
    if (!isReadableType(type)) throw new Error(`${src}: tensor ${t.name} has type ${ggmlTypeName(type)}`);
    readTensorRows(t, Buffer.alloc(1 << 20), (b, firstRow, rows) => decodeF32(type, b, rows * cols, values, firstRow * cols));
    o = dataStart + alignUp(o - dataStart + 4 * count, g.alignment);
  }
  fs.writeFileSync(dst, out);
  return dst;
}
