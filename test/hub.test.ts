import assert from "node:assert/strict";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { LLM } from "../src/engine/llm.js";
import { parseHubId } from "../src/io/hub/id.js";
import { resolveHubModel } from "../src/io/hub/resolve.js";
import { loadSourceTokenizer } from "../src/model/load.js";
import { startMockHub, type MockHub } from "./hub-mock-server.js";
import { fixtureModel } from "./paths.js";
import { userErrorMatching } from "./helpers.js";

const SHA = "0123456789abcdef0123456789abcdef01234567";
const SHARDED_SHA = "89abcdef0123456789abcdef0123456789abcdef";
const PRIVATE_SHA = "fedcba9876543210fedcba9876543210fedcba98";
const TOKEN = "hf_test_token";
const ESCAPING_SHARD = "../../../../PWNED.safetensors";

/** A port nothing listens on: bound once, then released. */
async function refusedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe("Hub model ids", () => {
  it("parses org/name[@revision] and refuses other strings", () => {
    assert.deepEqual(parseHubId("openai-community/gpt2"), { repo: "openai-community/gpt2", revision: "main" });
    assert.deepEqual(parseHubId("org/name@v1.0"), { repo: "org/name", revision: "v1.0" });
    assert.deepEqual(parseHubId("org/name@refs/pr/1"), { repo: "org/name", revision: "refs/pr/1" });
    for (const bad of ["gpt2", "a/b/c", "./x/y", "/abs/path", "org/na--me", "org/..", "org/name@", "org/name.gguf/x"]) assert.equal(parseHubId(bad), null, bad);
  });
});

describe("Hub downloads against a mock Hub", () => {
  let hub: MockHub;
  let cache: string;
  const env = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({ HF_ENDPOINT: hub.url, HF_HUB_CACHE: cache, ...extra });
  const repoDir = (id: string) => path.join(cache, `models--${id.replace("/", "--")}`);

  let escapeDir: string;

  before(async () => {
    // A repository whose index sends a shard outside the snapshot.
    escapeDir = fs.mkdtempSync(path.join(os.tmpdir(), "nanogpt-hub-escape-"));
    const sharded = fixtureModel("gpt2-tiny-random-f16-sharded");
    for (const f of ["config.json", "tokenizer.json"]) fs.copyFileSync(path.join(sharded, f), path.join(escapeDir, f));
    const index = JSON.parse(fs.readFileSync(path.join(sharded, "model.safetensors.index.json"), "utf8")) as { weight_map: Record<string, string> };
    for (const k of Object.keys(index.weight_map)) index.weight_map[k] = ESCAPING_SHARD;
    fs.writeFileSync(path.join(escapeDir, "model.safetensors.index.json"), JSON.stringify(index));
    hub = await startMockHub([
      { id: "test-org/escape", dir: escapeDir, sha: SHA },
      { id: "test-org/tiny", dir: fixtureModel("gpt2-tiny-random"), sha: SHA },
      { id: "test-org/tiny-sharded", dir: fixtureModel("gpt2-tiny-random-f16-sharded"), sha: SHARDED_SHA },
      { id: "test-org/private", dir: fixtureModel("gpt2-tiny-random"), sha: PRIVATE_SHA, token: TOKEN },
      { id: "test-org/gated", dir: fixtureModel("gpt2-tiny-random"), sha: PRIVATE_SHA, token: TOKEN, gated: true },
    ]);
    cache = fs.mkdtempSync(path.join(os.tmpdir(), "nanogpt-hub-"));
  });
  after(async () => {
    await hub.close();
    fs.rmSync(cache, { recursive: true, force: true });
    fs.rmSync(escapeDir, { recursive: true, force: true });
  });

  /** A fresh cache at <tmp>/c, so anything written beside it (<tmp>/PWNED) would show. */
  const hostileCache = (): { root: string; e: NodeJS.ProcessEnv } => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "nanogpt-hub-hostile-"));
    return { root, e: env({ HF_HUB_CACHE: path.join(root, "c") }) };
  };
  const onlyCache = (root: string) => assert.ok(fs.readdirSync(root).every((f) => f === "c"), "nothing written outside the cache");

  it("hostile mirror: an oid that is a path never becomes one", async () => {
    const { root, e } = hostileCache();
    hub.fakeOid.set("config.json", "../../../PWNED");
    try {
      await assert.rejects(resolveHubModel("test-org/tiny", { quiet: true, env: e }), userErrorMatching(/model test-org\/tiny: .*tree.* gave config\.json the oid "\.\.\/\.\.\/\.\.\/PWNED", not 40 hex digits/));
      hub.fakeOid.set("config.json", "f".repeat(64));
      await assert.rejects(resolveHubModel("test-org/tiny", { quiet: true, env: e }), userErrorMatching(/not 40 hex digits/));
    } finally {
      hub.fakeOid.delete("config.json");
    }
    onlyCache(root);
    fs.rmSync(root, { recursive: true, force: true });
  });

  it("hostile mirror: bytes whose sha256 (LFS) or git sha1 differ from the listing are removed", async () => {
    for (const file of ["model.safetensors", "config.json"]) {
      const { root, e } = hostileCache();
      hub.corrupt.add(file);
      try {
        const kind = file === "config.json" ? "git-sha1" : "sha256";
        await assert.rejects(resolveHubModel("test-org/tiny", { quiet: true, env: e }), userErrorMatching(new RegExp(`/${file.replace(".", "\\.")}: ${kind} check failed: got [0-9a-f]+, expected [0-9a-f]+; the file was removed`)));
      } finally {
        hub.corrupt.delete(file);
      }
      const blobs = path.join(root, "c", "models--test-org--tiny", "blobs");
      const wrong = fs.readdirSync(blobs).filter((b) => b.endsWith(".incomplete"));
      assert.deepEqual(wrong, [], "no partial file left");
      assert.ok(!fs.existsSync(path.join(root, "c", "models--test-org--tiny", "snapshots", SHA, file)));
      // A later honest download completes.
      const dir = await resolveHubModel("test-org/tiny", { quiet: true, env: e });
      assert.ok(fs.existsSync(path.join(dir, file)));
      onlyCache(root);
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it("hostile mirror: a shard or file name with .. is refused before anything is written for it", async () => {
    const { root, e } = hostileCache();
    hub.extraFiles.set(ESCAPING_SHARD, Buffer.from("not a checkpoint"));
    try {
      await assert.rejects(resolveHubModel("test-org/escape", { quiet: true, env: e }), userErrorMatching(/model test-org\/escape: refusing file name "\.\.\/\.\.\/\.\.\/\.\.\/PWNED\.safetensors": it must be a relative path inside /));
    } finally {
      hub.extraFiles.delete(ESCAPING_SHARD);
    }
    onlyCache(root);
    fs.rmSync(root, { recursive: true, force: true });
  });

  it("downloads only the needed files into the Hugging Face cache layout", async () => {
    const dir = await resolveHubModel("test-org/tiny", { quiet: true, env: env() });
    assert.equal(dir, path.join(repoDir("test-org/tiny"), "snapshots", SHA));
    assert.equal(fs.readFileSync(path.join(repoDir("test-org/tiny"), "refs", "main"), "utf8"), SHA);
    assert.deepEqual(fs.readdirSync(dir).sort(), ["config.json", "generation_config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"]);
    for (const f of fs.readdirSync(dir)) {
      const link = path.join(dir, f);
      assert.ok(fs.lstatSync(link).isSymbolicLink(), `${f} is a symlink into blobs/`);
      assert.ok(!path.isAbsolute(fs.readlinkSync(link)), "relative links, as huggingface_hub makes them");
      assert.deepEqual(fs.readFileSync(link), fs.readFileSync(path.join(fixtureModel("gpt2-tiny-random"), f)));
    }
    // LFS files are stored under their sha256, like the Python tools do.
    const blobs = fs.readdirSync(path.join(repoDir("test-org/tiny"), "blobs"));
    assert.ok(blobs.some((b) => /^[0-9a-f]{64}$/.test(b)));
    assert.ok(!blobs.some((b) => b.endsWith(".incomplete")));

    const fromHub = await LLM.load(dir, { backend: "reference" });
    const local = await LLM.load(fixtureModel("gpt2-tiny-random"), { backend: "reference" });
    const ids = local.tokenize("Hello from the Hub");
    const [a] = fromHub.generateBatch([ids], { temperature: 0, maxTokens: 8, ignoreEos: true });
    const [b] = local.generateBatch([ids], { temperature: 0, maxTokens: 8, ignoreEos: true });
    assert.deepEqual(a.tokens, b.tokens);
    fromHub.close();
    local.close();
  });

  it("fetches the index and every shard of a sharded checkpoint", async () => {
    const dir = await resolveHubModel("test-org/tiny-sharded@main", { quiet: true, env: env() });
    assert.ok(fs.existsSync(path.join(dir, "model.safetensors.index.json")));
    assert.ok(fs.existsSync(path.join(dir, "model-00001-of-00002.safetensors")));
    assert.ok(fs.existsSync(path.join(dir, "model-00002-of-00002.safetensors")));
    const llm = await LLM.load(dir, { backend: "reference" });
    assert.equal(llm.shape.nLayer, 2);
    llm.close();
  });

  it("reuses the cache: no downloads again, and offline with HF_HUB_OFFLINE=1 or a commit hash", async () => {
    const downloads = () => hub.requests.filter((r) => r.path.includes("/resolve/")).length;
    const before = downloads();
    const dir = await resolveHubModel("test-org/tiny", { quiet: true, env: env() });
    assert.equal(downloads(), before, "second run downloads nothing");

    const count = hub.requests.length;
    assert.equal(await resolveHubModel("test-org/tiny", { quiet: true, env: env({ HF_HUB_OFFLINE: "1" }) }), dir);
    assert.equal(await resolveHubModel(`test-org/tiny@${SHA}`, { quiet: true, env: env() }), dir);
    assert.equal(hub.requests.length, count, "no request at all");
  });

  it("falls back to the cached snapshot when the Hub cannot be reached", async () => {
    const dir = await resolveHubModel("test-org/tiny", { quiet: true, env: env({ HF_ENDPOINT: `http://127.0.0.1:${await refusedPort()}` }) });
    assert.equal(dir, path.join(repoDir("test-org/tiny"), "snapshots", SHA));
  });

  it("HF_HUB_OFFLINE=1 with nothing cached fails naming the model", async () => {
    await assert.rejects(resolveHubModel("test-org/not-cached", { quiet: true, env: env({ HF_HUB_OFFLINE: "1" }) }), userErrorMatching(/test-org\/not-cached is not in the cache .*HF_HUB_OFFLINE/));
  });

  it("resumes a download cut in the middle, leaving no corrupt file in the cache", async () => {
    const local = fs.mkdtempSync(path.join(os.tmpdir(), "nanogpt-hub-cut-"));
    const e = env({ HF_HUB_CACHE: local });
    hub.cutAfter.set("model.safetensors", 1_000_000);
    await assert.rejects(resolveHubModel("test-org/tiny", { quiet: true, env: e }), userErrorMatching(/download of http:\/\/127\.0\.0\.1:\d+\/test-org\/tiny\/resolve\/[0-9a-f]{40}\/model\.safetensors was cut after \d+ of 6545576 bytes/));
    const blobs = path.join(local, "models--test-org--tiny", "blobs");
    const partial = fs.readdirSync(blobs).filter((b) => b.endsWith(".incomplete"));
    assert.equal(partial.length, 1, "the partial download is kept only as .incomplete");
    const kept = fs.statSync(path.join(blobs, partial[0])).size;
    assert.ok(kept > 0 && kept < 6545576);
    assert.ok(!fs.existsSync(path.join(local, "models--test-org--tiny", "snapshots", SHA, "model.safetensors")), "no snapshot file for a cut download");

    const dir = await resolveHubModel("test-org/tiny", { quiet: true, env: e });
    const resumed = hub.requests.filter((r) => r.path.endsWith("/model.safetensors") && r.range !== undefined).at(-1);
    assert.equal(resumed?.range, `bytes=${kept}-`);
    assert.deepEqual(fs.readFileSync(path.join(dir, "model.safetensors")), fs.readFileSync(path.join(fixtureModel("gpt2-tiny-random"), "model.safetensors")));
    assert.ok(!fs.readdirSync(blobs).some((b) => b.endsWith(".incomplete")));
    fs.rmSync(local, { recursive: true, force: true });
  });

  it("verifies sizes: a short file never enters the cache", async () => {
    const local = fs.mkdtempSync(path.join(os.tmpdir(), "nanogpt-hub-short-"));
    hub.shortBy.set("model.safetensors", 100);
    try {
      await assert.rejects(resolveHubModel("test-org/tiny", { quiet: true, env: env({ HF_HUB_CACHE: local }) }), userErrorMatching(/model\.safetensors: size check failed: got 6545476 bytes, expected 6545576/));
    } finally {
      hub.shortBy.delete("model.safetensors");
    }
    assert.ok(!fs.existsSync(path.join(local, "models--test-org--tiny", "snapshots", SHA, "model.safetensors")));
    fs.rmSync(local, { recursive: true, force: true });
  });

  it("404: an unknown model fails with one line naming it and the URL", async () => {
    await assert.rejects(resolveHubModel("test-org/missing", { quiet: true, env: env() }), userErrorMatching(/model test-org\/missing: not found \(404 from http:\/\/127\.0\.0\.1:\d+\/api\/models\/test-org\/missing\/revision\/main/));
  });

  it("404: an unknown revision", async () => {
    await assert.rejects(resolveHubModel("test-org/tiny@v9", { quiet: true, env: env() }), userErrorMatching(/model test-org\/tiny@v9: not found \(404 from .*revision\/v9/));
  });

  it("401: a private model needs HF_TOKEN, and works with it", async () => {
    await assert.rejects(resolveHubModel("test-org/private", { quiet: true, env: env() }), userErrorMatching(/model test-org\/private: 401 Unauthorized from http:\/\/127\.0\.0\.1:\d+\/api\/models\/test-org\/private\/revision\/main.*HF_TOKEN/));
    const dir = await resolveHubModel("test-org/private", { quiet: true, env: env({ HF_TOKEN: TOKEN }) });
    assert.ok(fs.existsSync(path.join(dir, "model.safetensors")));
  });

  it("401 on a gated model's files names the file's URL", async () => {
    await assert.rejects(
      resolveHubModel("test-org/gated", { quiet: true, env: env() }),
      userErrorMatching(/test-org\/gated\/config\.json: 401 Unauthorized from http:\/\/127\.0\.0\.1:\d+\/test-org\/gated\/resolve\/[0-9a-f]{40}\/config\.json: .*set HF_TOKEN/),
    );
    const dir = await resolveHubModel("test-org/gated", { quiet: true, env: env({ HF_TOKEN: TOKEN }) });
    assert.ok(fs.existsSync(path.join(dir, "model.safetensors")));
  });

  it("connection refused: one line naming the endpoint", async () => {
    const port = await refusedPort();
    await assert.rejects(
      resolveHubModel("test-org/elsewhere", { quiet: true, env: env({ HF_ENDPOINT: `http://127.0.0.1:${port}` }) }),
      userErrorMatching(new RegExp(`cannot reach http://127\\.0\\.0\\.1:${port} for test-org/elsewhere: connection refused`)),
    );
  });

  it("LLM.load takes a Hub id (HF_ENDPOINT and HF_HUB_CACHE from the environment)", async () => {
    const saved = { endpoint: process.env.HF_ENDPOINT, cache: process.env.HF_HUB_CACHE };
    process.env.HF_ENDPOINT = hub.url;
    process.env.HF_HUB_CACHE = cache;
    try {
      const llm = await LLM.load("test-org/tiny", { backend: "reference" });
      assert.equal(llm.shape.vocabSize, 50257);
      llm.close();
      const tokenizer = await loadSourceTokenizer("test-org/tiny", { quiet: true });
      assert.deepEqual(tokenizer.encode("Hello world"), [15496, 995]);
      await assert.rejects(LLM.load("test-org/missing", { backend: "reference" }), userErrorMatching(/not found \(404 from .*\(and there is no local folder test-org\/missing\)$/));
    } finally {
      for (const [k, v] of [["HF_ENDPOINT", saved.endpoint], ["HF_HUB_CACHE", saved.cache]] as const) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });
});
