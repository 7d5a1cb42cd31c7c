import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { LLM } from "../src/engine/llm.js";
import { parseHubGGUFId, pickGGUF } from "../src/io/hub/gguf-pick.js";
import { resolveHubGGUF, resolveHubModel } from "../src/io/hub/resolve.js";
import { classifyModelSource } from "../src/io/hub/source.js";
import { startMockHub, type MockHub } from "./hub-mock-server.js";
import { fixtures } from "./paths.js";
import { userErrorMatching } from "./helpers.js";

const SHA = "0123456789abcdef0123456789abcdef01234567";
const foreign = path.join(fixtures, "foreign-gguf");

describe("Hub GGUF ids (llama.cpp's -hf form)", () => {
  it("parses org/name[@revision]:QUANT and org/name/file.gguf", () => {
    assert.deepEqual(parseHubGGUFId("org/name:Q4_K_M"), { repo: "org/name", revision: "main", quant: "Q4_K_M" });
    assert.deepEqual(parseHubGGUFId("org/name@v2:q8_0"), { repo: "org/name", revision: "v2", quant: "q8_0" });
    assert.deepEqual(parseHubGGUFId("org/name/model-Q8_0.gguf"), { repo: "org/name", revision: "main", file: "model-Q8_0.gguf" });
    assert.deepEqual(parseHubGGUFId("org/name/sub/model.gguf"), { repo: "org/name", revision: "main", file: "sub/model.gguf" });
    for (const bad of ["org/name", "org/name:", "org/name:Q4 K", "org/name/x.bin", "org/name/../x.gguf", "org/name.gguf", "a:Q4_K_M", "org/na--me:Q8_0"]) assert.equal(parseHubGGUFId(bad), null, bad);
  });

  it("a path that exists is never a Hub id", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "nanogpt-hub-gguf-src-"));
    try {
      fs.mkdirSync(path.join(dir, "org", "name"), { recursive: true });
      fs.copyFileSync(path.join(foreign, "qwen3.gguf"), path.join(dir, "org", "name", "m.gguf"));
      const cwd = process.cwd();
      process.chdir(dir);
      try {
        assert.equal(classifyModelSource("org/name/m.gguf"), "gguf");
        assert.equal(classifyModelSource("org/name/other.gguf"), "hub-gguf");
        assert.equal(classifyModelSource("org/name:Q4_K_M"), "hub-gguf");
        assert.equal(classifyModelSource("org/name"), "folder");
      } finally {
        process.chdir(cwd);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("picks by quantization as a whole word, case-insensitively, leaving out mmproj files", () => {
    const files = ["README.md", "m-Q4_K_M.gguf", "m-Q4_K_S.gguf", "m.Q8_0.gguf", "mmproj-m-Q8_0.gguf", "m-Q4_K.gguf"];
    const id = (quant: string) => ({ repo: "o/m", revision: "main", quant });
    assert.equal(pickGGUF(id("Q4_K_M"), files), "m-Q4_K_M.gguf");
    assert.equal(pickGGUF(id("q4_k_m"), files), "m-Q4_K_M.gguf");
    assert.equal(pickGGUF(id("Q4_K"), files), "m-Q4_K.gguf");
    assert.equal(pickGGUF(id("Q8_0"), files), "m.Q8_0.gguf");
    assert.throws(() => pickGGUF(id("Q6_K"), files), userErrorMatching(/^o\/m:Q6_K: no \.gguf file in o\/m is quantized Q6_K \(its \.gguf files: m-Q4_K.gguf, m-Q4_K_M.gguf, m-Q4_K_S.gguf, m.Q8_0.gguf\)$/));
  });
});

describe("Hub GGUF downloads against a mock Hub", () => {
  let hub: MockHub;
  let cache: string;
  let repos: string;
  const env = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({ HF_ENDPOINT: hub.url, HF_HUB_CACHE: cache, ...extra });
  const downloads = () => hub.requests.filter((r) => r.path.includes("/resolve/")).map((r) => decodeURIComponent(r.path.split("/").pop() ?? ""));

  before(async () => {
    repos = fs.mkdtempSync(path.join(os.tmpdir(), "nanogpt-hub-gguf-"));
    const repo = (name: string, files: Record<string, string>) => {
      const d = path.join(repos, name);
      fs.mkdirSync(d);
      for (const [file, from] of Object.entries(files)) fs.copyFileSync(path.join(foreign, from), path.join(d, file));
      fs.writeFileSync(path.join(d, "README.md"), "# tiny\n");
      return d;
    };
    hub = await startMockHub([
      { id: "test-org/tiny-GGUF", dir: repo("tiny", { "tiny-Q4_K_M.gguf": "llama.gguf", "tiny-Q5_K_M.gguf": "qwen2.gguf", "tiny-Q8_0.gguf": "qwen3.gguf", "mmproj-tiny-Q8_0.gguf": "qwen3.gguf" }), sha: SHA },
      { id: "test-org/twins-GGUF", dir: repo("twins", { "a-Q8_0.gguf": "qwen3.gguf", "b-Q8_0.gguf": "qwen3.gguf" }), sha: SHA },
      { id: "test-org/split-GGUF", dir: repo("split", { "m-Q8_0-00001-of-00002.gguf": "qwen3.gguf", "m-Q8_0-00002-of-00002.gguf": "qwen3.gguf" }), sha: SHA },
    ]);
    cache = fs.mkdtempSync(path.join(os.tmpdir(), "nanogpt-hub-gguf-cache-"));
  });
  after(async () => {
    await hub.close();
    fs.rmSync(cache, { recursive: true, force: true });
    fs.rmSync(repos, { recursive: true, force: true });
  });

  it("org/name:QUANT downloads only that file, into the Hugging Face cache", async () => {
    hub.requests.length = 0;
    const file = await resolveHubGGUF("test-org/tiny-GGUF:Q4_K_M", { quiet: true, env: env() });
    assert.equal(file, path.join(cache, "models--test-org--tiny-GGUF", "snapshots", SHA, "tiny-Q4_K_M.gguf"));
    assert.deepEqual(downloads(), ["tiny-Q4_K_M.gguf"]);
    assert.ok(fs.readFileSync(file).equals(fs.readFileSync(path.join(foreign, "llama.gguf"))));
  });

  it("org/name/file.gguf downloads the named file; the cache answers again without downloading", async () => {
    hub.requests.length = 0;
    const file = await resolveHubGGUF("test-org/tiny-GGUF/tiny-Q8_0.gguf", { quiet: true, env: env() });
    assert.equal(path.basename(file), "tiny-Q8_0.gguf");
    assert.deepEqual(downloads(), ["tiny-Q8_0.gguf"]);
    hub.requests.length = 0;
    assert.equal(await resolveHubGGUF("test-org/tiny-GGUF:q8_0", { quiet: true, env: env() }), file);
    assert.deepEqual(downloads(), []);
    assert.equal(await resolveHubGGUF("test-org/tiny-GGUF:Q8_0", { quiet: true, env: env({ HF_HUB_OFFLINE: "1" }) }), file);
    assert.equal(await resolveHubGGUF(`test-org/tiny-GGUF@${SHA}:Q8_0`, { quiet: true, env: env({ HF_ENDPOINT: "http://127.0.0.1:9" }) }), file);
  });

  it("HF_HUB_OFFLINE=1 with the file not cached fails naming it", async () => {
    await assert.rejects(resolveHubGGUF("test-org/tiny-GGUF:Q5_K_M", { quiet: true, env: env({ HF_HUB_OFFLINE: "1" }) }), userErrorMatching(/^test-org\/tiny-GGUF:Q5_K_M is not in the cache .* and HF_HUB_OFFLINE is set$/));
  });

  it("several matches, none, a missing file or a split file: one line listing what is there", async () => {
    const e = { quiet: true, env: env() };
    await assert.rejects(resolveHubGGUF("test-org/twins-GGUF:Q8_0", e), userErrorMatching(/^test-org\/twins-GGUF:Q8_0: several \.gguf files in test-org\/twins-GGUF match Q8_0: a-Q8_0\.gguf, b-Q8_0\.gguf \(name one with test-org\/twins-GGUF\/FILE\.gguf\)$/));
    await assert.rejects(resolveHubGGUF("test-org/tiny-GGUF:Q2_K", e), userErrorMatching(/^test-org\/tiny-GGUF:Q2_K: no \.gguf file in test-org\/tiny-GGUF is quantized Q2_K \(its \.gguf files: tiny-Q4_K_M\.gguf, tiny-Q5_K_M\.gguf, tiny-Q8_0\.gguf\)$/));
    await assert.rejects(resolveHubGGUF("test-org/tiny-GGUF/tiny-F16.gguf", e), userErrorMatching(/^test-org\/tiny-GGUF\/tiny-F16\.gguf: test-org\/tiny-GGUF has no file tiny-F16\.gguf \(its \.gguf files: .*tiny-Q8_0\.gguf\)$/));
    await assert.rejects(resolveHubGGUF("test-org/split-GGUF:Q8_0", e), userErrorMatching(/^test-org\/split-GGUF:Q8_0: m-Q8_0-00001-of-00002\.gguf is one part of a split GGUF, which this engine does not read/));
    await assert.rejects(resolveHubGGUF("test-org/missing-GGUF:Q8_0", e), userErrorMatching(/^model test-org\/missing-GGUF:Q8_0: not found \(404 from /));
  });

  it("a GGUF-only repository without a quantization says how to pick one", async () => {
    await assert.rejects(resolveHubModel("test-org/tiny-GGUF", { quiet: true, env: env() }), userErrorMatching(/^model test-org\/tiny-GGUF has only GGUF files: pick one with test-org\/tiny-GGUF:QUANT \(as llama\.cpp's -hf\) or test-org\/tiny-GGUF\/FILE\.gguf; there: tiny-Q4_K_M\.gguf, tiny-Q5_K_M\.gguf, tiny-Q8_0\.gguf$/));
  });

  it("LLM.load takes org/name:QUANT and runs the file it picked", async () => {
    const saved = { endpoint: process.env.HF_ENDPOINT, cache: process.env.HF_HUB_CACHE };
    process.env.HF_ENDPOINT = hub.url;
    process.env.HF_HUB_CACHE = cache;
    try {
      const fromHub = await LLM.load("test-org/tiny-GGUF:Q5_K_M", { backend: "reference" });
      const local = await LLM.load(path.join(foreign, "qwen2.gguf"), { backend: "reference" });
      try {
        const [a] = fromHub.generateBatch([[1, 2, 3]], { temperature: 0, maxTokens: 6, ignoreEos: true });
        const [b] = local.generateBatch([[1, 2, 3]], { temperature: 0, maxTokens: 6, ignoreEos: true });
        assert.deepEqual(a.tokens, b.tokens);
      } finally {
        fromHub.close();
        local.close();
      }
      await assert.rejects(LLM.load("test-org/tiny-GGUF:IQ1_S", { backend: "reference" }), userErrorMatching(/quantized IQ1_S .*\(and there is no local file test-org\/tiny-GGUF:IQ1_S\)$/));
    } finally {
      for (const [k, v] of [["HF_ENDPOINT", saved.endpoint], ["HF_HUB_CACHE", saved.cache]] as const) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });
});
