import fs from "node:fs";
import { UserError } from "../errors.js";

/**
 * llama2.c's legacy (version 0) checkpoint, as its run.c reads it: seven little-endian int32
 * (dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len), then float32 arrays.
 * A negative vocab_size means the classifier is stored separately instead of shared with the
 * embedding.
 */
export interface Llama2cHeader {
  readonly file: string;
  readonly dim: number;
  readonly hiddenDim: number;
  readonly nLayers: number;
  readonly nHeads: number;
  readonly nKVHeads: number;
  readonly vocabSize: number; // |vocab_size|
  readonly sharedClassifier: boolean;
  readonly seqLen: number;
  readonly headSize: number; // dim / n_heads
}

export const LLAMA2C_HEADER_BYTES = 28;

/** The arrays in file order, each [rows, cols] per layer (layers = 1 for the global ones). */
export type Llama2cArray = "embedding" | "rmsAtt" | "wq" | "wk" | "wv" | "wo" | "rmsFfn" | "w1" | "w2" | "w3" | "rmsFinal" | "freqCisReal" | "freqCisImag" | "classifier";

export interface Llama2cLayout {
  /** Float offset (after the header) and [layers, rows, cols] of each array. */
  readonly arrays: ReadonlyMap<Llama2cArray, { readonly offset: number; readonly layers: number; readonly rows: number; readonly cols: number }>;
  readonly bytes: number; // what the whole file must hold
}

// Far beyond any llama2.c export, and small enough that sizes stay exact in float64.
const MAX_SIZE = 1 << 20;

/** The header of a llama2.c .bin file, checked for sizes that make a model and that the file holds. */
export function readLlama2cHeader(file: string): Llama2cHeader {
  let fd: number;
  try {
    fd = fs.openSync(file, "r");
  } catch {
    throw new UserError(`model file ${file} does not exist or cannot be read`);
  }
  const buf = Buffer.alloc(LLAMA2C_HEADER_BYTES);
  let got: number;
  let size: number;
  try {
    got = fs.readSync(fd, buf, 0, LLAMA2C_HEADER_BYTES, 0);
    size = fs.fstatSync(fd).size;
  } finally {
    fs.closeSync(fd);
  }
  if (got < LLAMA2C_HEADER_BYTES) throw new UserError(`${file}: ${size} bytes is too short for a llama2.c checkpoint header (${LLAMA2C_HEADER_BYTES} bytes)`);
  // llama2.c's export.py versions 1 and 2 start with the magic "ak42"; run.c reads only version 0.
  if (buf.readUInt32LE(0) === 0x616b3432) throw new UserError(`${file}: llama2.c export version ${buf.readInt32LE(4)} is not supported (only the legacy version-0 format that run.c reads)`);
  const [dim, hiddenDim, nLayers, nHeads, nKVHeads, vocab, seqLen] = Array.from({ length: 7 }, (_, i) => buf.readInt32LE(4 * i));
  const fields = `dim ${dim}, hidden_dim ${hiddenDim}, n_layers ${nLayers}, n_heads ${nHeads}, n_kv_heads ${nKVHeads}, vocab_size ${vocab}, seq_len ${seqLen}`;
  const sizes = [dim, hiddenDim, nLayers, nHeads, nKVHeads, Math.abs(vocab), seqLen];
  const bad = (why: string) => new UserError(`${file}: not a llama2.c checkpoint header (${fields}): ${why}`);
  if (sizes.some((v) => v <= 0 || v > MAX_SIZE)) throw bad(`every size must be between 1 and ${MAX_SIZE}`);
  if (dim % nHeads !== 0) throw bad("dim is not a multiple of n_heads");
  if (nHeads % nKVHeads !== 0) throw bad("n_heads is not a multiple of n_kv_heads");
  if ((dim / nHeads) % 2 !== 0) throw bad("the head size dim / n_heads must be even for RoPE");
  const header: Llama2cHeader = { file, dim, hiddenDim, nLayers, nHeads, nKVHeads, vocabSize: Math.abs(vocab), sharedClassifier: vocab > 0, seqLen, headSize: dim / nHeads };
  const { bytes } = llama2cLayout(header);
  if (size < bytes) throw new UserError(`${file}: truncated: the header (${fields}) implies ${bytes} bytes but the file has ${size}`);
  if (size > bytes) throw new UserError(`${file}: has ${size} bytes but a llama2.c checkpoint with this header (${fields}) has ${bytes}`);
  return header;
}

/** Where run.c's memory_map_weights finds each array. */
export function llama2cLayout(h: Llama2cHeader): Llama2cLayout {
  const C = h.dim;
  const kvDim = h.nKVHeads * h.headSize;
  const L = h.nLayers;
  const order: [Llama2cArray, number, number, number][] = [
    ["embedding", 1, h.vocabSize, C],
    ["rmsAtt", L, 1, C],
    ["wq", L, C, C],
    ["wk", L, kvDim, C],
    ["wv", L, kvDim, C],
    ["wo", L, C, C],
    ["rmsFfn", L, 1, C],
    ["w1", L, h.hiddenDim, C],
    ["w2", L, C, h.hiddenDim],
    ["w3", L, h.hiddenDim, C],
    ["rmsFinal", 1, 1, C],
    // RoPE tables from the training code; run.c skips them and computes its own.
    ["freqCisReal", 1, h.seqLen, h.headSize / 2],
    ["freqCisImag", 1, h.seqLen, h.headSize / 2],
  ];
  if (!h.sharedClassifier) order.push(["classifier", 1, h.vocabSize, C]);
  const arrays = new Map<Llama2cArray, { offset: number; layers: number; rows: number; cols: number }>();
  let offset = 0;
  for (const [name, layers, rows, cols] of order) {
    arrays.set(name, { offset, layers, rows, cols });
    offset += layers * rows * cols;
  }
  return { arrays, bytes: LLAMA2C_HEADER_BYTES + 4 * offset };
}

/** Reads `count` floats starting at float `offset` after the header into `out` (host little-endian, as run.c mmaps). */
export function readLlama2cFloats(fd: number, offset: number, out: Float32Array, count: number): void {
  const bytes = new Uint8Array(out.buffer, out.byteOffset, count * 4);
  const position = LLAMA2C_HEADER_BYTES + offset * 4;
  let done = 0;
  while (done < bytes.length) {
    const n = fs.readSync(fd, bytes, done, bytes.length - done, position + done);
    if (n === 0) throw new UserError(`llama2.c checkpoint ended at byte ${position + done} while reading weights`);
    done += n;
  }
}

/** Parameters and tensors of the model, without the RoPE tables run.c skips. */
export function llama2cParameters(h: Llama2cHeader): { parameters: number; tensors: number } {
  let parameters = 0;
  let tensors = 0;
  for (const [name, a] of llama2cLayout(h).arrays) {
    if (name === "freqCisReal" || name === "freqCisImag") continue;
    parameters += a.layers * a.rows * a.cols;
    tensors += a.layers;
  }
  return { parameters, tensors };
}
