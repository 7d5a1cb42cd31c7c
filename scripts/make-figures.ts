// The pictures of docs/how-it-works.md, written as SVG into docs/img/:
//   npm run build && node dist/scripts/make-figures.js
// - kv-cache.svg: the static cache's layout, (layers, batch, position, heads, head_dim), with the
//   default model's sizes, and what prefill and a decode step write into it;
// - paged-cache.svg: a paged pool of blocks, two sequences' block tables, a shared prefix block;
// - attention.svg: the attention weights of the default model on a line of Shakespeare, every
//   head of the first and the last layer. The engine keeps no attention probabilities (its
//   kernels never store them), so this script runs the real model on the reference backend and
//   recomputes softmax(q·kᵀ/√d) from the very q and cached k each attention call receives.
// Everything is deterministic: running it again gives the same files.
import fs from "node:fs";
import path from "node:path";
import { prefill } from "../src/engine/generate.js";
import { ModelRunner } from "../src/engine/model-runner.js";
import { StaticKVCache } from "../src/engine/static-cache.js";
import type { Backend, KVView } from "../src/kernels/backend.js";
import { createBackend } from "../src/kernels/index.js";
import { defaultModelDir } from "../src/model/default-model.js";
import { openModel } from "../src/model/load.js";

const LINE = "O Romeo, Romeo! wherefore art thou Romeo?";
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..", "..");
const outDir = path.join(root, "docs", "img");

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
const FONT = `font-family="ui-monospace, Menlo, Consolas, monospace"`;

function svg(width: number, height: number, body: string[]): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    ...body,
    `</svg>`,
    "",
  ].join("\n");
}

function text(x: number, y: number, s: string, opts: { size?: number; anchor?: string; fill?: string; weight?: string } = {}): string {
  const { size = 12, anchor = "start", fill = "#222", weight = "normal" } = opts;
  return `<text x="${x}" y="${y}" ${FONT} font-size="${size}" text-anchor="${anchor}" fill="${fill}" font-weight="${weight}">${esc(s)}</text>`;
}

function rect(x: number, y: number, w: number, h: number, fill: string, stroke = "#555"): string {
  return `<rect x="${x}" y="${y}" width="${w}" height="${h}" fill="${fill}" stroke="${stroke}" stroke-width="0.6"/>`;
}

const HEAD_COLORS = ["#9ecae1", "#a1d99b", "#fdae6b", "#bcbddc"];

/** The static cache of one layer: per batch slot, P rows of (nh × hs) floats. */
function kvCacheFigure(L: number, P: number, nh: number, hs: number): string {
  const body: string[] = [];
  const B = 2;
  const rowsShown = 12; // positions drawn per slot; the rest are elided
  const cellW = 56;
  const rowH = 14;
  const x0 = 150;
  body.push(text(20, 24, `Static KV cache: k and v each (layers=${L}, batch=${B}, position=${P}, heads=${nh}, head_dim=${hs}), f32`, { size: 14, weight: "bold" }));
  body.push(text(20, 44, "layer l's keys for slot b are one contiguous (position, heads, head_dim) slab; values are the same shape", { size: 12 }));
  let y = 70;
  for (let b = 0; b < B; b++) {
    body.push(text(20, y + 12, `k[l][slot ${b}]`, { weight: "bold" }));
    for (let h = 0; h < nh; h++) body.push(text(x0 + h * cellW + cellW / 2, y + 10, `head ${h}`, { size: 10, anchor: "middle" }));
    y += 16;
    const promptLen = b === 0 ? 7 : 4;
    for (let p = 0; p < rowsShown; p++) {
      const filled = p < promptLen;
      const decode = p === promptLen;
      for (let h = 0; h < nh; h++) {
        const fill = filled ? HEAD_COLORS[h] : decode ? "#fb6a4a" : "#f4f4f4";
        body.push(rect(x0 + h * cellW, y, cellW, rowH, fill));
      }
      body.push(text(x0 - 8, y + 11, `pos ${p}`, { size: 10, anchor: "end" }));
      if (p === 0) body.push(text(x0 + nh * cellW + 10, y + 11, `← one row = ${nh} heads × ${hs} floats = ${nh * hs} floats`, { size: 11 }));
      if (p === promptLen - 1) body.push(text(x0 + nh * cellW + 10, y + 11, `prefill wrote rows 0..${promptLen - 1} (the prompt) in one pass`, { size: 11, fill: "#2b6c9e" }));
      if (decode) body.push(text(x0 + nh * cellW + 10, y + 11, `decode step writes row ${promptLen}, then attends over rows 0..${promptLen}`, { size: 11, fill: "#b22" }));
      y += rowH;
    }
    body.push(text(x0 + (nh * cellW) / 2, y + 12, `⋮ up to position ${P - 1}`, { size: 11, anchor: "middle", fill: "#777" }));
    y += 30;
  }
  body.push(text(20, y + 4, `offset of (l, b, p, h, d) = (((l·batch + b)·position + p)·heads + h)·head_dim + d`, { size: 12 }));
  body.push(text(20, y + 22, `one layer of one slot: ${P}·${nh}·${hs}·4 B = ${(P * nh * hs * 4) / 1024} KiB of keys, as much of values`, { size: 12 }));
  return svg(820, y + 40, body);
}

/** A pool of blocks shared by sequences through block tables. */
function pagedFigure(blockSize: number): string {
  const body: string[] = [];
  const numBlocks = 10;
  const bw = 46;
  const poolX = 330;
  const poolY = 80;
  const rowH = 5;
  const bh = blockSize * rowH;
  body.push(text(20, 24, `Paged KV cache: one pool per layer, (num_blocks, block_size=${blockSize}, heads, head_dim)`, { size: 14, weight: "bold" }));
  body.push(text(20, 44, "each sequence owns a block table: its position p lives in block table[⌊p / block_size⌋], row p mod block_size", { size: 12 }));
  // Sequence A: 40 tokens = blocks 3, 7, 1 (last partly filled). B shares A's first block (same prefix), then 5, 8.
  const seqs = [
    { name: "seq A (40 tokens)", table: [3, 7, 1], used: 40, color: "#9ecae1", y: 110 },
    { name: "seq B (37 tokens)", table: [3, 5, 8], used: 37, color: "#a1d99b", y: 250 },
  ];
  const owner = new Map<number, string>();
  for (const s of seqs) s.table.forEach((blk) => owner.set(blk, owner.has(blk) ? "#c7a0d8" : s.color));
  body.push(text(poolX, poolY - 10, "block pool", { weight: "bold" }));
  for (let i = 0; i < numBlocks; i++) {
    const x = poolX + (i % 5) * (bw + 14);
    const y = poolY + Math.floor(i / 5) * (bh + 40);
    const fill = owner.get(i) ?? "#f4f4f4";
    for (let r = 0; r < blockSize; r++) body.push(rect(x, y + r * rowH, bw, rowH, fill, "#999"));
    body.push(`<rect x="${x}" y="${y}" width="${bw}" height="${bh}" fill="none" stroke="#333" stroke-width="1"/>`);
    body.push(text(x + bw / 2, y + bh + 14, `block ${i}`, { size: 10, anchor: "middle" }));
  }
  const blockXY = (i: number) => [poolX + (i % 5) * (bw + 14), poolY + Math.floor(i / 5) * (bh + 40)];
  for (const s of seqs) {
    body.push(text(20, s.y, s.name, { weight: "bold" }));
    body.push(text(20, s.y + 18, "block table", { size: 11 }));
    s.table.forEach((blk, j) => {
      const x = 110 + j * 44;
      body.push(rect(x, s.y + 6, 40, 20, s.color));
      body.push(text(x + 20, s.y + 20, String(blk), { anchor: "middle" }));
      const [bx, by] = blockXY(blk);
      body.push(`<line x1="${x + 20}" y1="${s.y + 26}" x2="${bx + bw / 2}" y2="${by + bh / 2}" stroke="${s.color === "#9ecae1" ? "#2b6c9e" : "#3a8a3a"}" stroke-width="1.2" opacity="0.8"/>`);
    });
    const last = s.used % blockSize;
    body.push(text(20, s.y + 44, `positions 0..${s.used - 1}; last block ${last}/${blockSize} full`, { size: 11, fill: "#555" }));
  }
  body.push(text(20, 330, "block 3 holds the first 16 tokens both prompts share: reference count 2, prefilled once (prefix cache).", { size: 12, fill: "#7a3f99" }));
  body.push(text(20, 348, "Free blocks (grey) are handed out one at a time as sequences grow; memory is spent per block used,", { size: 12 }));
  body.push(text(20, 366, "not per sequence at full context. The static cache is the special case of one block of P positions per slot.", { size: 12 }));
  return svg(820, 384, body);
}

/** Softmax of q·kᵀ/√d per head, recomputed from what a prefill's attention call receives. */
function attentionWeights(q: Float32Array, kv: KVView, t: number, nHead: number, nKVHead: number, headDim: number): Float64Array[][] {
  const group = nHead / nKVHead;
  const width = nHead * headDim;
  const kvWidth = nKVHead * headDim;
  const heads: Float64Array[][] = [];
  for (let h = 0; h < nHead; h++) {
    const rows: Float64Array[] = [];
    for (let i = 0; i < t; i++) {
      const w = new Float64Array(t);
      let max = -Infinity;
      for (let p = 0; p <= i; p++) {
        const kOff = (kv.blockTable[Math.floor(p / kv.blockSize)] * kv.blockSize + (p % kv.blockSize)) * kvWidth + Math.floor(h / group) * headDim;
        let dot = 0;
        for (let j = 0; j < headDim; j++) dot += q[i * width + h * headDim + j] * kv.k[kOff + j];
        w[p] = dot / Math.sqrt(headDim);
        max = Math.max(max, w[p]);
      }
      let sum = 0;
      for (let p = 0; p <= i; p++) sum += w[p] = Math.exp(w[p] - max);
      for (let p = 0; p <= i; p++) w[p] /= sum;
      rows.push(w);
    }
    heads.push(rows);
  }
  return heads;
}

async function attentionFigure(): Promise<{ svg: string; layers: number }> {
  const { spec, tokenizer, loadWeights } = await openModel(defaultModelDir());
  const base = await createBackend({ kind: "reference" });
  const perLayer: Float64Array[][][] = [];
  const backend: Backend = {
    ...base,
    attention(out, q, row, kv, pos, t, nHead, nKVHead, headDim, scratch) {
      if (row !== 0 || pos !== 0) throw new Error("expected one prefill chunk from position 0");
      perLayer.push(attentionWeights(q, kv, t, nHead, nKVHead, headDim));
      base.attention(out, q, row, kv, pos, t, nHead, nKVHead, headDim, scratch);
    },
  };
  const model = loadWeights(backend, "f32");
  const ids = tokenizer.encode(LINE);
  const cache = new StaticKVCache(spec.shape, backend, 1, 64);
  const runner = new ModelRunner(model, cache, { maxTokens: 64, maxChunks: 1, maxLogitRows: 1 });
  prefill(runner, 0, ids);
  backend.close();

  const L = perLayer.length;
  const shown = [0, L - 1];
  const n = ids.length;
  const chars = ids.map((id) => tokenizer.decode([id]));
  const cell = 8;
  const map = n * cell;
  const padL = 34;
  const padT = 70;
  const gapX = 40;
  const gapY = 60;
  const nh = perLayer[0].length;
  const body: string[] = [];
  body.push(text(20, 24, `Attention weights of the default model (shakespeare-byte-gpt2) on ${JSON.stringify(LINE)}`, { size: 14, weight: "bold" }));
  body.push(text(20, 44, `one byte per token; row i = query at position i, column p = key at position p ≤ i; darker = more weight (√ scale)`, { size: 12 }));
  shown.forEach((l, r) => {
    for (let h = 0; h < nh; h++) {
      const x0 = 20 + padL + h * (map + padL + gapX);
      const y0 = padT + r * (map + padT + gapY);
      body.push(text(x0 + map / 2, y0 - 22, `layer ${l}, head ${h}`, { anchor: "middle", weight: "bold" }));
      for (let p = 0; p < n; p++) {
        body.push(text(x0 + p * cell + cell / 2, y0 - 4, chars[p] === " " ? "·" : chars[p], { size: 8, anchor: "middle", fill: "#555" }));
        body.push(text(x0 - 4, y0 + p * cell + cell - 1, chars[p] === " " ? "·" : chars[p], { size: 8, anchor: "end", fill: "#555" }));
      }
      body.push(rect(x0, y0, map, map, "#fafafa", "#bbb"));
      const weights = perLayer[l][h];
      for (let i = 0; i < n; i++) {
        for (let p = 0; p <= i; p++) {
          const v = Math.sqrt(weights[i][p]);
          if (v < 0.03) continue;
          const shade = Math.round(255 * (1 - v));
          body.push(`<rect x="${x0 + p * cell}" y="${y0 + i * cell}" width="${cell}" height="${cell}" fill="rgb(${shade},${shade},255)"/>`);
        }
      }
    }
  });
  // What each shown head mostly does, printed so the prose in the docs can be checked against it.
  for (const l of shown) {
    for (let h = 0; h < nh; h++) {
      let self = 0, prev = 0, first = 0;
      for (let i = 1; i < n; i++) {
        self += perLayer[l][h][i][i];
        prev += perLayer[l][h][i][i - 1];
        first += perLayer[l][h][i][0];
      }
      const pct = (x: number) => `${((100 * x) / (n - 1)).toFixed(0)}%`;
      console.log(`layer ${l} head ${h}: mean weight on itself ${pct(self)}, on the previous byte ${pct(prev)}, on position 0 ${pct(first)}`);
    }
  }
  const width = 20 + nh * (map + padL + gapX);
  const height = padT + shown.length * (map + padT + gapY) - gapY + 10;
  return { svg: svg(width, height, body), layers: L };
}

async function main(): Promise<void> {
  fs.mkdirSync(outDir, { recursive: true });
  const config = JSON.parse(fs.readFileSync(path.join(defaultModelDir(), "config.json"), "utf8")) as Record<string, number>;
  const L = config.n_layer;
  const P = config.n_positions;
  const nh = config.n_head;
  const hs = config.n_embd / nh;
  const write = (name: string, s: string) => {
    fs.writeFileSync(path.join(outDir, name), s);
    console.log(`wrote ${path.relative(root, path.join(outDir, name))}`);
  };
  write("kv-cache.svg", kvCacheFigure(L, P, nh, hs));
  write("paged-cache.svg", pagedFigure(16));
  const attention = await attentionFigure();
  write("attention.svg", attention.svg);
}

await main();
