/**
 * The Llama-family half of check:llama-cpp: random Llama 3, Qwen2 and Qwen3 checkpoints
 * (make-random-llama.ts) are converted with `convert --to gguf`; llama.cpp and this engine load
 * the same GGUF, this engine also the Hugging Face folder, and all continue token-id prompts
 * (short ones and one of 300 ids, well past the Llama 3 model's original context of 64) greedily.
 * With `foreign`, also the tiny checkpoints of foreign-gguf/configs.ts: their GGUF files written by
 * llama.cpp's gguf-py (test/fixtures/foreign-gguf/, Q4_K_M-style mixes), and convert's files.
 */
import path from "node:path";
import { convertCommand } from "../src/cli/convert.js";
import { LLM } from "../src/engine/llm.js";
import type { GGUFOutType } from "../src/model/layers/gguf-out.js";
import type { WeightDType } from "../src/model/matrix.js";
import { FOREIGN_KINDS, writeForeignFolder } from "./foreign-gguf/configs.js";
import { writeF32Twin } from "./foreign-gguf/f32-twin.js";
import { repoRoot } from "./make-random-gpt2.js";
import type { BackendKind, SimdLevel } from "../src/kernels/index.js";
import { makeRandomLlama, RANDOM_LLAMA_KINDS, type RandomLlamaKind } from "./make-random-llama.js";
import type { Llama } from "./peers/llama-api.js";
import { llamaGreedy } from "./peers/llama-greedy.js";
import { engineDType, maxGapAlong, NEAR_TIE, NEAR_TIE_MIXED, nearTie } from "./peers/near-tie.js";


export interface LlamaFamilyRow {
  readonly model: string;
  /** A convert --dtype, or "gguf-py" for a fixture file written by llama.cpp's tools. */
  readonly dtype: string;
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
    ["[1,17,42,5]", [1, 17, 42, 5].map((id) => id % vocab)],
    ["12 ids", [3, 141, 59, 26, 53, 58, 97, 93, 23, 84, 62, 64].map((id) => id % vocab)],
    ["300 ids", long],
  ];
}

function compare(ours: LLM, ids: number[], mine: number[], theirs: number[], tolerance: number): { text: string; ok: boolean } {
  if (JSON.stringify(mine) === JSON.stringify(theirs)) return { text: "identical", ok: true };
  const at = mine.findIndex((t, i) => t !== theirs[i]);
  const gap = maxGapAlong(ours, ids, theirs);
  return gap <= tolerance ? { text: `near-tie at ${at} (gap ${gap.toExponential(1)})`, ok: true } : { text: `MISMATCH at ${at} (gap ${gap.toExponential(1)})`, ok: false };
}

/** A model folder and the GGUF files of it to run: each with its type and the engine storage to load it into. */
interface FamilyCase {
  readonly model: string;
  readonly dir: string;
  readonly files: readonly { readonly dtype: string; readonly make: () => Promise<string>; readonly storage: WeightDType | undefined; readonly tolerance: number }[];
}

export async function checkLlamaFamily(
  llama: Llama,
  options: { kinds: readonly RandomLlamaKind[]; foreign: boolean; dtypes: readonly GGUFOutType[]; nTokens: number; backend: BackendKind; simd: SimdLevel; work: string; log: (s: string) => void },
): Promise<LlamaFamilyRow[]> {
  const converted = (model: string, dir: string) =>
    options.dtypes.map((dtype) => ({
      dtype,
      storage: engineDType(dtype),
      tolerance: nearTie(dtype, options.simd),
      make: async () => {
        const file = path.join(options.work, `${model}-${dtype}.gguf`);
        await convertCommand({ model: dir, to: "gguf", dtype, out: file, quiet: true });
        return file;
      },
    }));
  const cases: FamilyCase[] = options.kinds.map((kind) => {
    const dir = makeRandomLlama(path.join(options.work, `random-${kind}`), kind);
    return { model: kind, dir, files: converted(kind, dir) };
  });
  if (options.foreign) {
    // Files this engine did not write: gguf-py's mixes of K-quants and fallbacks, then the same folders through convert.
    for (const kind of FOREIGN_KINDS) {
      const dir = writeForeignFolder(path.join(options.work, `foreign-${kind}`), kind);
      const fixture = path.join(repoRoot(), "test", "fixtures", "foreign-gguf", `${kind}.gguf`);
      const files = [
        { dtype: "gguf-py", storage: undefined, tolerance: NEAR_TIE_MIXED, make: () => Promise.resolve(fixture) },
        // Its weights as this engine decodes them, in F32: llama.cpp must then agree as on any f32 file.
        { dtype: "gguf-py as F32", storage: "f32" as const, tolerance: NEAR_TIE.f32, make: () => Promise.resolve(writeF32Twin(fixture, path.join(options.work, `foreign-${kind}-f32-twin.gguf`))) },
      ];
      cases.push({ model: `foreign-${kind}`, dir, files: [...files, ...converted(`foreign-${kind}`, dir)] });
    }
  }
  const rows: LlamaFamilyRow[] = [];
  const greedy = (llm: LLM, ids: number[]) => llm.generateBatch([ids], { temperature: 0, maxTokens: options.nTokens, ignoreEos: true })[0].tokens;
  for (const c of cases) {
    const folder = await LLM.load(c.dir, { backend: options.backend, simd: options.simd });
    try {
      for (const f of c.files) {
        const file = await f.make();
        const ours = await LLM.load(file, { backend: options.backend, dtype: f.storage, simd: options.simd });
        const theirs = await llama.loadModel({ modelPath: file });
        try {
          // The tiny foreign checkpoints have a context of 128: the 300-id prompt is for the others.
          for (const [label, ids] of prompts(ours.shape.vocabSize).filter(([, ids]) => ids.length + options.nTokens <= ours.contextLength)) {
            const mine = greedy(ours, ids);
            const theirTokens = await llamaGreedy(theirs, ids, options.nTokens, ours.contextLength, { yieldEog: true });
            const g = compare(ours, ids, mine, theirTokens, f.tolerance);
            // The folder is f32: only the f32 file is expected to be the same model exactly.
            const h = f.dtype === "f32" ? compare(folder, ids, greedy(folder, ids), mine, 1e-4) : { text: "-", ok: true };
            rows.push({ model: c.model, dtype: f.dtype, prompt: label, gguf: g.text, folder: h.text, ok: g.ok && h.ok, firstIds: theirTokens.slice(0, 8).join(",") });
            if (!g.ok) options.log(`    ${c.model} ${f.dtype} ${label}\n      ours      [${mine}]\n      llama.cpp [${theirTokens}]`);
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
