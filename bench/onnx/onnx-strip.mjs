#!/usr/bin/env node
// Turns an ONNX GPT-2 with embedded weights into the weights-free graph + manifest.json that
// onnx-assemble.mjs refills from an HF checkpoint, so the repository keeps a small graph instead
// of a second copy of the weights it already ships.
//   node onnx-strip.mjs IN.onnx BASE_MANIFEST.json OUT_DIR
// BASE_MANIFEST.json supplies config/L/H/D. Initializers named "m.<hf name>" map to that tensor;
// the one other [n_embd, vocab] initializer is the tied LM head, wte transposed. Only ModelProto
// field 7 (graph) and GraphProto field 5 (initializer) are rewritten; every other byte is copied.
import fs from "node:fs";
import path from "node:path";

const [inFile, baseManifest, outDir] = process.argv.slice(2);
if (!outDir) { console.error("usage: node onnx-strip.mjs IN.onnx BASE_MANIFEST.json OUT_DIR"); process.exit(2); }

function readVarint(b, p) { let x = 0n, s = 0n; for (;;) { const c = b[p++]; x |= BigInt(c & 127) << s; s += 7n; if (c < 128) return [x, p]; } }
function varint(n) { const out = []; let x = BigInt(n); do { let c = Number(x & 127n); x >>= 7n; if (x > 0n) c |= 128; out.push(c); } while (x > 0n); return Buffer.from(out); }
const key = (field, wire) => varint((field << 3) | wire);
const bytesField = (field, body) => Buffer.concat([key(field, 2), varint(body.length), body]);
const intField = (field, n) => Buffer.concat([key(field, 0), varint(n)]);

/** Fields of one message: number, wire type, the whole field's bytes, and a delimited body. */
function* fields(b, start, end) {
  let p = start;
  while (p < end) {
    const at = p; let k; [k, p] = readVarint(b, p);
    const f = Number(k >> 3n), w = Number(k & 7n);
    let s = p, e;
    if (w === 0) { [, p] = readVarint(b, p); e = p; }
    else if (w === 2) { let n; [n, s] = readVarint(b, p); e = s + Number(n); p = e; }
    else if (w === 1) { e = p = p + 8; }
    else if (w === 5) { e = p = p + 4; }
    else throw new Error(`unsupported wire type ${w}`);
    yield { f, w, s, e, raw: b.subarray(at, p) };
  }
}

const buf = fs.readFileSync(inFile);
const base = JSON.parse(fs.readFileSync(baseManifest, "utf8"));
const initializers = [];
let offset = 0;

function stripTensor(b, s, e) {
  const dims = []; let name = ""; let raw = null; const kept = [];
  for (const x of fields(b, s, e)) {
    if (x.f === 1) dims.push(Number(readVarint(b, x.s)[0]));
    if (x.f === 8) name = b.toString("utf8", x.s, x.e);
    if (x.f === 9) raw = b.subarray(x.s, x.e); else kept.push(x.raw);
  }
  if (raw === null) return Buffer.concat(kept); // already external or not raw: leave as is
  const lmHead = !name.startsWith("m.");
  if (lmHead && (dims.length !== 2 || dims[1] !== base.config.vocab_size)) throw new Error(`unexpected initializer ${name} [${dims}]`);
  const tensor = lmHead ? "transformer.wte.weight" : name.slice(2);
  initializers.push({ initializer: name, tensor, transpose: lmHead, shape: dims, offset, length: raw.length });
  const entry = (k, v) => bytesField(13, Buffer.concat([bytesField(1, Buffer.from(k)), bytesField(2, Buffer.from(String(v)))]));
  const ext = [entry("location", "model.onnx.data"), entry("offset", offset), entry("length", raw.length), intField(14, 1)];
  offset += raw.length;
  return Buffer.concat([...kept, ...ext]);
}

function stripGraph(b, s, e) {
  const out = [];
  for (const x of fields(b, s, e)) out.push(x.f === 5 && x.w === 2 ? bytesField(5, stripTensor(b, x.s, x.e)) : x.raw);
  return Buffer.concat(out);
}

const model = [];
for (const x of fields(buf, 0, buf.length)) model.push(x.f === 7 && x.w === 2 ? bytesField(7, stripGraph(buf, x.s, x.e)) : x.raw);
fs.mkdirSync(outDir, { recursive: true });
fs.writeFileSync(path.join(outDir, "model.onnx"), Buffer.concat(model));
const { config, activation, L, H, D } = base;
fs.writeFileSync(path.join(outDir, "manifest.json"), JSON.stringify({ config, activation, L, H, D, data_bytes: offset, initializers }, null, 1) + "\n");
console.log(`wrote ${path.join(outDir, "model.onnx")} (${initializers.length} initializers moved out, ${offset} bytes)`);
