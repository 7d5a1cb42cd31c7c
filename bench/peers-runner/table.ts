/** The benchmark's one table: a median per cell over the rounds, and engine ÷ peer ratios. */
import type { ChildResult } from "./child.js";
import { median } from "../../src/numeric/median.js";

export const PEERS = ["engine", "onnxruntime", "llama.cpp"] as const;
export type Peer = (typeof PEERS)[number];

/** One (model, weights, threads) configuration and what each peer measured for it. */
export interface Row {
  model: string;
  weights: string;
  threads: number;
  /** Per peer: the results of every round, or why there are none; absent = not run for this row. */
  cells: Partial<Record<Peer, { results: ChildResult[]; error?: string }>>;
}

const METRICS: { key: "prefill_tok_s" | "decode_tok_s" | "peak_rss_mb" | "load_ms"; label: string }[] = [
  { key: "prefill_tok_s", label: "prefill tok/s" },
  { key: "decode_tok_s", label: "decode tok/s" },
  { key: "peak_rss_mb", label: "peak RSS MB" },
  { key: "load_ms", label: "load ms" },
];

function fmt(x: number): string {
  return x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2);
}

/** Median, and half the min-max range as a share of it, so a noisy cell shows as one. */
function cellText(values: number[]): string {
  const m = median(values);
  if (values.length < 2) return fmt(m);
  const spread = (Math.max(...values) - Math.min(...values)) / 2 / m;
  return `${fmt(m)} ±${Math.round(spread * 100)}%`;
}

export function formatTable(rows: Row[]): string {
  const header = ["model", "weights", "threads", "metric", ...PEERS, "engine ÷ onnxruntime", "engine ÷ llama.cpp"];
  const lines: string[][] = [];
  for (const row of rows) {
    for (const { key, label } of METRICS) {
      const values: Partial<Record<Peer, number[]>> = {};
      const cells = PEERS.map((peer) => {
        const cell = row.cells[peer];
        if (cell === undefined) return "—";
        if (cell.results.length === 0) return `n/a (${cell.error ?? "no result"})`;
        values[peer] = cell.results.map((r) => r[key]);
        return cellText(values[peer]);
      });
      const engine = values.engine;
      const ratio = (peer: Peer) => {
        const theirs = values[peer];
        return engine === undefined || theirs === undefined ? "—" : `${(median(engine) / median(theirs)).toFixed(2)}×`;
      };
      lines.push([row.model, row.weights, String(row.threads), label, ...cells, ratio("onnxruntime"), ratio("llama.cpp")]);
    }
  }
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const right = (i: number) => i >= 2;
  const line = (cols: string[]) => `| ${cols.map((c, i) => (right(i) && i !== 3 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join(" | ")} |`;
  const rule = `|${widths.map((w, i) => (right(i) && i !== 3 ? `${"-".repeat(w + 1)}:` : "-".repeat(w + 2))).join("|")}|`;
  return [line(header), rule, ...lines.map(line)].join("\n");
}

/** llama.cpp's own timers (llama_perf) per row, to show how much node-llama-cpp's JS adds to its columns. */
export function formatOwnTimers(rows: Row[]): string {
  const parts: string[] = [];
  for (const row of rows) {
    const own = (row.cells["llama.cpp"]?.results ?? []).flatMap((r) => (r.own === undefined ? [] : [r.own]));
    if (own.length === 0) continue;
    const p = fmt(median(own.map((o) => o.prefill_tok_s)));
    const d = fmt(median(own.map((o) => o.decode_tok_s)));
    parts.push(`${row.weights}, ${row.threads} thread(s): prefill ${p}, decode ${d}`);
  }
  return parts.length === 0 ? "" : `llama.cpp by its own timers (llama_perf, without node-llama-cpp's JS), tok/s: ${parts.join("; ")}.`;
}

/** The engine's decode ceiling per row: how fast its threads read what a decode step reads (weights, KV cache). */
export function formatCeilings(rows: Row[]): string {
  const parts: string[] = [];
  for (const row of rows) {
    const results = row.cells.engine?.results ?? [];
    const ceilings = results.flatMap((r) => (r.decode_ceiling_tok_s === undefined ? [] : [r.decode_ceiling_tok_s]));
    const bandwidths = results.flatMap((r) => (r.read_gb_s === undefined ? [] : [r.read_gb_s]));
    if (ceilings.length === 0) continue;
    const share = median(results.map((r) => r.decode_tok_s)) / median(ceilings);
    parts.push(`${row.model} ${row.weights}, ${row.threads} thread(s): ${fmt(median(ceilings))} tok/s at ${fmt(median(bandwidths))} GB/s (engine decode ${Math.round(share * 100)}%)`);
  }
  return parts.length === 0
    ? ""
    : "decode ceiling (the engine's threads reading, between its runs, only the weights and the f32 KV cache a decode step " +
        `reads; the peers read as many bytes per token, Q8_0 6% fewer than q8): ${parts.join("; ")}.`;
}
