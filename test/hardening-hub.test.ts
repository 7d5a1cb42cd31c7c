import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, afterEach, before, beforeEach, describe, it } from "node:test";
import { UserError } from "../src/errors.js";
import { DEFAULT_DOWNLOAD_TIMEOUT_S, DEFAULT_ETAG_TIMEOUT_S, timeoutFromEnv } from "../src/io/hub/download.js";
import { resolveHubModel } from "../src/io/hub/resolve.js";
import { startMockHub, type MockHub } from "./hub-mock-server.js";
import { fixtureModel, repoRoot } from "./paths.js";

const SHA = "0123456789abcdef0123456789abcdef01234567";
const main = path.join(repoRoot, "dist", "src", "cli", "main.js");

function oneLineUserError(pattern: RegExp) {
  return (e: unknown) => {
    assert.ok(e instanceof UserError, `expected a UserError, got ${String(e)}`);
    assert.ok(!e.message.includes("\n"), `one line: ${e.message}`);
    assert.match(e.message, pattern);
    return true;
  };
}

describe("Hub timeouts (HF_HUB_ETAG_TIMEOUT, HF_HUB_DOWNLOAD_TIMEOUT)", () => {
  let hub: MockHub;
  let cache: string;
  const env = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({ HF_ENDPOINT: hub.url, HF_HUB_CACHE: cache, ...extra });

  before(async () => {
    hub = await startMockHub([{ id: "test-org/tiny", dir: fixtureModel("gpt2-tiny-random"), sha: SHA }]);
  });
  beforeEach(() => {
    hub.silent.clear();
    cache = fs.mkdtempSync(path.join(os.tmpdir(), "nanogpt-hardening-hub-"));
  });
  afterEach(() => fs.rmSync(cache, { recursive: true, force: true }));
  after(() => hub.close());

  it("huggingface_hub's defaults (10 s each); bad values are refused naming the variable", () => {
    assert.equal(DEFAULT_ETAG_TIMEOUT_S, 10);
    assert.equal(DEFAULT_DOWNLOAD_TIMEOUT_S, 10);
    assert.equal(timeoutFromEnv({}, "HF_HUB_ETAG_TIMEOUT", 10), 10);
    assert.equal(timeoutFromEnv({ HF_HUB_ETAG_TIMEOUT: "2.5" }, "HF_HUB_ETAG_TIMEOUT", 10), 2.5);
    for (const bad of ["0", "-1", "soon", "Infinity"]) {
      assert.throws(() => timeoutFromEnv({ HF_HUB_DOWNLOAD_TIMEOUT: bad }, "HF_HUB_DOWNLOAD_TIMEOUT", 10), oneLineUserError(/^HF_HUB_DOWNLOAD_TIMEOUT must be a positive number of seconds, got "/));
    }
  });

  it("a mirror that never answers the revision API: one line naming the URL after HF_HUB_ETAG_TIMEOUT", async () => {
    hub.silent.add("api");
    const t0 = performance.now();
    await assert.rejects(
      resolveHubModel("test-org/tiny", { quiet: true, env: env({ HF_HUB_ETAG_TIMEOUT: "1" }) }),
      oneLineUserError(new RegExp(`^no answer from ${hub.url}/api/models/test-org/tiny/revision/main\\S* within 1 s \\(HF_HUB_ETAG_TIMEOUT\\)$`)),
    );
    const ms = performance.now() - t0;
    assert.ok(ms >= 900 && ms < 4000, `${ms} ms`);
  });

  it("a metadata timeout falls back to a complete cached snapshot, as huggingface_hub does", async () => {
    const dir = await resolveHubModel("test-org/tiny", { quiet: true, env: env() });
    hub.silent.add("api");
    assert.equal(await resolveHubModel("test-org/tiny", { quiet: true, env: env({ HF_HUB_ETAG_TIMEOUT: "1" }) }), dir);
  });

  it("a file download that never starts: one line naming the file URL after HF_HUB_DOWNLOAD_TIMEOUT", async () => {
    hub.silent.add("resolve");
    const t0 = performance.now();
    await assert.rejects(
      resolveHubModel("test-org/tiny", { quiet: true, env: env({ HF_HUB_DOWNLOAD_TIMEOUT: "1" }) }),
      oneLineUserError(new RegExp(`^cannot download ${hub.url}/test-org/tiny/resolve/${SHA}/config\\.json: no data for 1 s \\(HF_HUB_DOWNLOAD_TIMEOUT\\)$`)),
    );
    const ms = performance.now() - t0;
    assert.ok(ms >= 900 && ms < 4000, `${ms} ms`);
  });

  it("the CLI: tokenize --model org/name against a silent mirror exits 1 with one line", async () => {
    hub.silent.add("api");
    const t0 = performance.now();
    const r = await new Promise<{ status: number | null; stderr: string }>((resolve, reject) => {
      const child = spawn(process.execPath, [main, "tokenize", "hi", "--model", "test-org/tiny"], {
        env: { ...process.env, ...env({ HF_HUB_ETAG_TIMEOUT: "1" }) },
        stdio: ["ignore", "ignore", "pipe"],
      });
      let stderr = "";
      child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
      const timer = setTimeout(() => child.kill("SIGKILL"), 15000);
      child.on("error", reject);
      child.on("close", (status) => {
        clearTimeout(timer);
        resolve({ status, stderr });
      });
    });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /^nanogpt-infer: no answer from http:\/\/127\.0\.0\.1:\d+\/api\/models\/test-org\/tiny\/revision\/main\S* within 1 s \(HF_HUB_ETAG_TIMEOUT\)\n$/);
    assert.ok(performance.now() - t0 < 5000);
  });
});
