/**
 * Checks GGUF files written by `convert` against llama.cpp itself (node-llama-cpp, pinned,
 * installed on demand into bench/.peers/ as for bench:peers, outside the project's dependencies): for each model and
 * each --dtype, both engines load the same file, tokenize the same prompts and continue them
 * greedily; token ids must be identical.
 *
 * Then the Llama family (llama-cpp-llama-family.ts): random Llama 3, Qwen2 and Qwen3
 * checkpoints, token-id prompts, llama.cpp vs this engine on the GGUF and on the HF folder.
 *
 *   npm run check:llama-cpp -- [--models tiny,124m,llama3,qwen2,qwen3,foreign] [--dtypes f32,f16,q8_0,q4_0,q4_k,q6_k,q4_k_m,q5_k_m]
 *                              [--tokens 24] [--backend wasm|reference] [--work DIR]
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { convertCommand } from "../src/cli/convert.js";
import { LLM } from "../src/engine/llm.js";
import { GGUF_OUT_TYPES, type GGUFOutType } from "../src/model/layers/gguf-out.js";
import { enableRelaxedSimd, type BackendKind, type SimdLevel } from "../src/kernels/index.js";
import { peerModule } from "./peers/paths.js";
import { installPeers } from "./peers/install.js";
import { makeRandomGPT2, repoRoot } from "./make-random-gpt2.js";
import { assembleFixtureModel } from "./fixture-models.js";
import { checkLlamaFamily, formatLlamaFamilyTable, RANDOM_LLAMA_KINDS } from "./llama-cpp-llama-family.js";
import type { Llama, NodeLlamaCpp } from "./peers/llama-api.js";
import { llamaGreedy } from "./peers/llama-greedy.js";
import { engineDType, maxGapAlong, nearTie } from "./peers/near-tie.js";

const PROMPTS = ["Hello, my name is", "The quick brown fox jumps over the lazy dog.", " In 1492, Columbus sailed"];

/** The pinned node-llama-cpp from the peers' folder, installed there first if missing. */
async function loadNodeLlamaCpp(): Promise<NodeLlamaCpp> {
  const failure = installPeers((line) => console.log(line), ["node-llama-cpp"])["node-llama-cpp"];
  if (failure !== null) throw new Error(failure);
  const mod: NodeLlamaCpp = await import(peerModule("node-llama-cpp", "dist", "index.js"));
  return mod;
}

interface CaseResult {
  model: string;
  dtype: string;
  tokenizeOk: boolean;
  greedyOk: boolean;
  /** Prompts whose greedy continuations are the same token for token. */
  identical: number;
  detail: string;
}

async function checkFile(llama: Llama, file: string, label: string, dtype: GGUFOutType, nTokens: number, backend: BackendKind, simd: SimdLevel): Promise<CaseResult> {
  const ours = await LLM.load(file, { backend, dtype: engineDType(dtype), simd });
  const theirs = await llama.loadModel({ modelPath: file });
  const problems: string[] = [];
  let tokenizeOk = true;
  let greedyOk = true;
  let identical = 0;
  try {
    for (const prompt of PROMPTS) {
      const ids = ours.tokenize(prompt);
      const theirIds = [...theirs.tokenize(prompt)];
      if (JSON.stringify(ids) !== JSON.stringify(theirIds)) {
        tokenizeOk = false;
        problems.push(`tokenize ${JSON.stringify(prompt)}: ours [${ids}] llama.cpp [${theirIds}]`);
      }
      const [mine] = ours.generateBatch([ids], { temperature: 0, maxTokens: nTokens, ignoreEos: true });
      const theirTokens = await llamaGreedy(theirs, ids, nTokens, ours.contextLength, { yieldEog: false });
      if (JSON.stringify(mine.tokens) === JSON.stringify(theirTokens)) {
        identical++;
        continue;
      }
      const at = mine.tokens.findIndex((t, i) => t !== theirTokens[i]);
      const gap = maxGapAlong(ours, ids, theirTokens);
      const tolerance = nearTie(dtype, simd);
      const tie = gap <= tolerance;
      if (!tie) greedyOk = false;
      problems.push(
        `greedy ${JSON.stringify(prompt)} differs from token ${at} on: ${tie ? "a near-tie" : "NOT a near-tie"}: along llama.cpp's path our logits put its token at most ${gap.toExponential(2)} below our best (tolerance ${tolerance})\n` +
          `      ours      [${mine.tokens}]\n      llama.cpp [${theirTokens}]`,
      );
    }
  } finally {
    await theirs.dispose();
    ours.close();
  }
  return { model: label, dtype, tokenizeOk, greedyOk, identical, detail: problems.join("\n    ") };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      models: { type: "string", default: "tiny,124m,llama3,qwen2,qwen3,foreign" },
      dtypes: { type: "string", default: GGUF_OUT_TYPES.join(",") },
      tokens: { type: "string", default: "24" },
      backend: { type: "string", default: "wasm" },
      work: { type: "string", default: path.join(os.tmpdir(), "nanogpt-llama-cpp-check") },
    },
  });
  const root = repoRoot();
  const nTokens = Number(values.tokens);
  const backend: BackendKind = values.backend === "reference" ? "reference" : "wasm";
  // The build users get: relaxed SIMD wherever the engine can turn it on, as the CLI does.
  const simd: SimdLevel = backend === "wasm" && enableRelaxedSimd() ? "relaxed" : "baseline";
  const dtypes = values.dtypes.split(",").map((d) => {
    const t = GGUF_OUT_TYPES.find((x) => x === d);
    if (t === undefined) throw new Error(`unknown dtype ${d}`);
    return t;
  });
  fs.mkdirSync(values.work, { recursive: true });
  const models: [string, () => string][] = [
    ["gpt2-tiny-random", () => assembleFixtureModel(path.join(root, "test", "fixtures"), "gpt2-tiny-random", values.work)],
    [
      "random-gpt2-124m",
      () => {
        const dir = path.join(values.work, "random-gpt2-124m");
        if (!fs.existsSync(path.join(dir, "config.json"))) {
          console.log(`writing a random GPT-2-124M-shaped checkpoint to ${dir} ...`);
          makeRandomGPT2(dir);
        }
        return dir;
      },
    ],
  ];
  const wanted = values.models.split(",");
  const selected = models.filter(([name]) => wanted.some((w) => name.includes(w)));

  const nodeLlamaCpp = await loadNodeLlamaCpp();
  const llama = await nodeLlamaCpp.getLlama({ gpu: false, build: "never", logLevel: "error" });
  const results: CaseResult[] = [];
  try {
    for (const [label, source] of selected) {
      const dir = source();
      for (const dtype of dtypes) {
        const file = path.join(values.work, `${label}-${dtype}.gguf`);
        const t0 = performance.now();
        await convertCommand({ model: dir, to: "gguf", dtype, out: file, quiet: true });
        const r = await checkFile(llama, file, label, dtype, nTokens, backend, simd);
        results.push(r);
        const verdict = r.identical === PROMPTS.length ? "identical" : `identical for ${r.identical} of ${PROMPTS.length} prompts${r.greedyOk ? ", the rest split at near-ties" : ", MISMATCH"}`;
        const seconds = ((performance.now() - t0) / 1000).toFixed(1);
        console.log(`${label.padEnd(18)} ${dtype.padEnd(5)} tokenize ${r.tokenizeOk ? "same" : "DIFFERENT"}; greedy, ${PROMPTS.length} prompts × ${nTokens} tokens: ${verdict} (${seconds} s)`);
        if (r.detail !== "") console.log(`    ${r.detail}`);
      }
    }
    const kinds = RANDOM_LLAMA_KINDS.filter((k) => wanted.includes(k));
    if (kinds.length > 0 || wanted.includes("foreign")) {
      const rows = await checkLlamaFamily(llama, { kinds, foreign: wanted.includes("foreign"), dtypes, nTokens, backend, simd, work: values.work, log: (s) => console.log(s) });
      console.log(formatLlamaFamilyTable(rows, nTokens));
      for (const r of rows) results.push({ model: `${r.model} ${r.prompt}`, dtype: r.dtype, tokenizeOk: true, greedyOk: r.ok, identical: 0, detail: "" });
    }
  } finally {
    await llama.dispose();
  }
  const failed = results.filter((r) => !(r.tokenizeOk && r.greedyOk)).length;
  console.log(`${results.length - failed} passed, ${failed} failed`);
  if (failed > 0) process.exitCode = 1;
}

main().catch((e: unknown) => {
  console.error(`check-llama-cpp: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
