import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { convertCommand } from "../src/cli/convert.js";
import { LLM } from "../src/engine/llm.js";
import { LLMEngine } from "../src/engine/llm-engine.js";
import { resolveSamplingParams } from "../src/engine/sampling-params.js";
import { readGGUF, type GGUFFile } from "../src/io/gguf-read.js";
import { llamaFamily } from "../src/model/families/llama/index.js";
import { openModel } from "../src/model/load.js";
import { randomLlamaConfig, writeRandomLlamaFolder } from "../scripts/make-random-llama.js";
import { rejectsWith, userErrorMatching } from "./helpers.js";
import { repoRoot } from "./paths.js";

const main = path.join(repoRoot, "dist", "src", "cli", "main.js");
const prompt = [5, 17, 42, 99];
const N = 24;
const SEED = 11;

let work: string;
let unstopped: number[]; // the seeded continuation when nothing stops it (unstopped on random weights repeats one token)

/** A random llama3 checkpoint (no tokenizer: prompts and output are ids) with these end-id files. */
function checkpoint(name: string, configEos: unknown, generationEos?: unknown): string {
  const dir = path.join(work, name);
  writeRandomLlamaFolder(dir, { ...randomLlamaConfig("llama3"), eos_token_id: configEos }, { seed: 7 });
  if (generationEos !== undefined) fs.writeFileSync(path.join(dir, "generation_config.json"), JSON.stringify({ bos_token_id: 1, eos_token_id: generationEos }));
  return dir;
}

async function generateWithLLM(dir: string, ignoreEos = false): Promise<{ tokens: number[]; finishReason: string }> {
  const llm = await LLM.load(dir, { backend: "reference" });
  try {
    const [r] = llm.generateBatch([prompt], { temperature: 1, seed: SEED, maxTokens: N, ignoreEos });
    return { tokens: r.tokens, finishReason: r.finishReason };
  } finally {
    llm.close();
  }
}

async function generateWithEngine(dir: string): Promise<{ tokens: number[]; finishReason: string }> {
  const engine = await LLMEngine.load(dir, { backend: "reference", maxBatch: 2 });
  try {
    const r = await engine.generate(prompt, resolveSamplingParams({ temperature: 1, seed: SEED, maxTokens: N }));
    return { tokens: [...r.tokenIds], finishReason: r.finishReason };
  } finally {
    engine.close();
  }
}

/** The continuation up to (not including) the first of `ids` the seeded sampler picks. */
function stoppedAt(ids: readonly number[]): { tokens: number[]; finishReason: string } {
  const at = unstopped.findIndex((id) => ids.includes(id));
  assert.ok(at >= 0, `none of ${ids} is in the continuation ${unstopped}`);
  return { tokens: unstopped.slice(0, at), finishReason: "stop" };
}

/** Distinct ids of the continuation, by first occurrence, and an id it never picks. */
function pick(): { first: number; second: number; third: number; absent: number } {
  const distinct = [...new Set(unstopped)];
  assert.ok(distinct.length >= 4, `the continuation is too repetitive: ${unstopped}`);
  let absent = 3;
  while (unstopped.includes(absent) || prompt.includes(absent)) absent++;
  return { first: distinct[1], second: distinct[2], third: distinct[3], absent };
}

before(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), "nanogpt-eos-"));
  const free = await generateWithLLM(checkpoint("free", null), true);
  unstopped = free.tokens;
  assert.equal(unstopped.length, N);
});
after(() => fs.rmSync(work, { recursive: true, force: true }));

describe("generation stops on every end-of-sequence id the checkpoint declares", () => {
  it("config.json's eos_token_id list: LLM (generate), LLMEngine (serve) and the CLI stop on any of them", async () => {
    const { second, absent } = pick();
    const dir = checkpoint("config-list", [absent, second]);
    const expected = stoppedAt([second]);
    assert.ok(expected.tokens.length > 0 && expected.tokens.length < N);
    assert.deepEqual(await generateWithLLM(dir), expected);
    assert.deepEqual(await generateWithEngine(dir), expected);
    const cli = spawnSync(process.execPath, [main, "generate", "--model", dir, "--prompt-ids", prompt.join(","), "--max-tokens", String(N), "--temperature", "1", "--seed", String(SEED), "--backend", "reference", "--json"], { encoding: "utf8" });
    assert.equal(cli.status, 0, cli.stderr);
    const out = JSON.parse(cli.stdout);
    assert.deepEqual({ tokens: out.tokens, finishReason: out.finish_reason }, expected);
    // ignore_eos still runs to max_tokens.
    assert.deepEqual((await generateWithLLM(dir, true)).tokens, unstopped);
  });

  it("generation_config.json's ids count too, alongside config.json's (Llama 3 Instruct's three)", async () => {
    const { first, second, third, absent } = pick();
    // generation_config.json alone names the earliest of the three.
    const dir = checkpoint("both-files", [absent, third], [second, first]);
    assert.deepEqual((await openModel(dir)).spec.eosTokenIds, [absent, third, second, first]);
    const expected = stoppedAt([first]);
    assert.deepEqual(await generateWithLLM(dir), expected);
    assert.deepEqual(await generateWithEngine(dir), expected);
    // config.json alone names the earliest.
    const other = checkpoint("config-earliest", second, [absent, third]);
    assert.deepEqual(await generateWithEngine(other), stoppedAt([second]));
  });

  it("GGUF: tokenizer.ggml.eos_token_id plus eot_token_id and eom_token_id when present", async () => {
    const { second, third, absent } = pick();
    const file = path.join(work, "tiny.gguf");
    await convertCommand({ model: checkpoint("for-gguf", absent), to: "gguf", dtype: "f32", out: file, quiet: true });
    const g = readGGUF(file);
    assert.equal(g.metadata.get("tokenizer.ggml.eos_token_id"), absent);
    assert.deepEqual(llamaFamily.fromGGUF(g).eosTokenIds, [absent]);
    const withMeta = (extra: [string, number | string][]): GGUFFile => ({ ...g, metadata: new Map([...g.metadata, ...extra]) });
    const ids = llamaFamily.fromGGUF(withMeta([["tokenizer.ggml.eot_token_id", second], ["tokenizer.ggml.eom_token_id", third]])).eosTokenIds;
    assert.deepEqual(ids, [absent, second, third]);
    assert.throws(() => llamaFamily.fromGGUF(withMeta([["tokenizer.ggml.eot_token_id", "x"]])), userErrorMatching(/tokenizer\.ggml\.eot_token_id must be a token id/));
    // The file's own eos id ends generation when the model picks it.
    const llm = await LLM.load(file, { backend: "reference" });
    try {
      assert.deepEqual(llm.eosTokenIds, [absent]);
    } finally {
      llm.close();
    }
  });

  it("a malformed eos_token_id or generation_config.json is a one-line error naming the file", async () => {
    await rejectsWith(openModel(checkpoint("bad-config", [2, "x"])), /config\.json: eos_token_id must be a token id or a list of token ids, got \[2,"x"\]/);
    await rejectsWith(openModel(checkpoint("bad-generation", 2, -1)), /generation_config\.json: eos_token_id must be a token id or a list/);
    const dir = checkpoint("broken-generation", 2);
    fs.writeFileSync(path.join(dir, "generation_config.json"), "{ nope");
    await rejectsWith(openModel(dir), /generation_config\.json: invalid JSON/);
  });
});
