/**
 * The Llama-family half of check:llama-cpp: random Llama 3, Qwen2 and Qwen3 checkpoints
 * (make-random-llama.ts) are converted with `convert --to gguf`; llama.cpp and this engine load
 * the same GGUF, this engine also the Hugging Face folder, and all continue token-id prompts
 * (short ones and one of 300 ids, well past the Llama 3 model's original context of 64) greedily.
 */
import path from "node:path";
import { convertCommand } from "../src/cli/convert.js";
import { LLM } from "../src/engine/llm.js";
import type { GGUFOutType } from "../src/model/layers/gguf-out.js";
import type { BackendKind } from "../src/kernels/index.js";
import { makeRandomLlama, RANDOM_LLAMA_KINDS, type RandomLlamaKind } from "./make-random-llama.js";
import type { Llama } from "./peers/llama-api.js";
import { llamaGreedy } from "./peers/llama-greedy.js";
import { engineDType, maxGapAlong, NEAR_TIE } from "./peers/near-tie.js";


export interface LlamaFamilyRow {
  readonly model: RandomLlamaKind;
  readonly dtype: GGUFOutType;
  readonly prompt: string;
  /** llama.cpp vs this engine on the GGUF: "identical", "near-tie at N" or "MISMATCH at N". */
  readonly gguf: string;
  /** This engine's GGUF vs its HF-folder load (f32 only; "-" otherwise). */
  readonly folder: string;
  readonly ok: boolean;
  readonly firstIds: string;
}

function prompts(vocab: number): [string, number[]][] {
  let x = 12345;
  const long = Array.from({ length: 300 }, () => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return (x >>> 8) % vocab;
  });
  return [
    ["[1]", [1]],
    ["[1,17,42,5]", [1, 17, 42, 5]],
    ["12 ids", [3, 141, 59, 26, 53, 58, 97, 93, 23, 84, 62, 64]],
    ["300 ids", long],
  ];
}

function compare(ours: LLM, ids: number[], mine: number[], theirs: number[], tolerance: number): { text: string; ok: boolean } {
  if (JSON.stringify(mine) === JSON.stringify(theirs)) return { text: "identical", ok: true };
  const at = mine.findIndex((t, i) => t !== theirs[i]);
  const gap = maxGapAlong(ours, ids, theirs);
  return gap <= tolerance ? { text: `near-tie at ${at} (gap ${gap.toExponential(1)})`, ok: true } : { text: `MISMATCH at ${at} (gap ${gap.toExponential(1)})`, ok: false };
}

export async function checkLlamaFamily(
  llama: Llama,
  options: { kinds: readonly RandomLlamaKind[]; dtypes: readonly GGUFOutType[]; nTokens: number; backend: BackendKind; work: string; log: (s: string) => void },
): Promise<LlamaFamilyRow[]> {
  const rows: LlamaFamilyRow[] = [];
  for (const kind of options.kinds) {
    const dir = makeRandomLlama(path.join(options.work, `random-${kind}`), kind);
    const folder = await LLM.load(dir, { backend: options.backend });
    const greedy = (llm: LLM, ids: number[]) => llm.generateBatch([ids], { temperature: 0, maxTokens: options.nTokens, ignoreEos: true })[0].tokens;
    try {
      for (const dtype of options.dtypes) {
        const file = path.join(options.work, `random-${kind}-${dtype}.gguf`);
        await convertCommand({ model: dir, to: "gguf", dtype, out: file, quiet: true });
        const ours = await LLM.load(file, { backend: options.backend, dtype: engineDType(dtype) });
        const theirs = await llama.loadModel({ modelPath: file });
        try {
          for (const [label, ids] of prompts(ours.shape.vocabSize)) {
            const mine = greedy(ours, ids);
            const theirTokens = await llamaGreedy(theirs, ids, options.nTokens, ours.contextLength, { yieldEog: true });
            const g = compare(ours, ids, mine, theirTokens, NEAR_TIE[dtype]);
            // The folder is f32: only the f32 file is expected to be the same model exactly.
            const f = dtype === "f32" ? compare(folder, ids, greedy(folder, ids), mine, 1e-4) : { text: "-", ok: true };
            rows.push({ model: kind, dtype, prompt: label, gguf: g.text, folder: f.text, ok: g.ok && f.ok, firstIds: theirTokens.slice(0, 8).join(",") });
            if (!g.ok) options.log(`    ${kind} ${dtype} ${label}\n      ours      [${mine}]\n      llama.cpp [${theirTokens}]`);
          }
        } finally {
          await theirs.dispose();
          ours.close();
        }
      }
    } finally {
      folder.close();
    }
  }
  return rows;
}

export function formatLlamaFamilyTable(rows: readonly LlamaFamilyRow[], nTokens: number): string {
  const header = ["model", "dtype", "prompt", `llama.cpp vs engine (GGUF), ${nTokens} greedy ids`, "engine GGUF vs HF folder", "llama.cpp's first ids"];
  const body = rows.map((r) => [r.model, r.dtype, r.prompt, r.gguf, r.folder, r.firstIds]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(" | ")} |`;
  return [line(header), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...body.map(line)].join("\n");
}

export { RANDOM_LLAMA_KINDS };
