import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { once } from "node:events";
import path from "node:path";
import { describe, it } from "node:test";
import { startServeChild } from "./helpers.js";
import { repoRoot } from "./paths.js";

const main = path.join(repoRoot, "dist", "src", "cli", "main.js");

describe("nanogpt-infer serve (child process)", () => {
  it("listens on loopback, logs one line per request, and shuts down on SIGTERM", async () => {
    const { child, url, log: logged } = await startServeChild(main, ["--port", "0", "--backend", "reference", "--max-batch", "4", "--api-key", "k"]);
    let log = logged();
    try {
      const res = await fetch(`${url}/v1/completions`, {
        method: "POST",
        headers: { Authorization: "Bearer k", "Content-Type": "application/json" },
        body: JSON.stringify({ prompt: "ROMEO:", max_tokens: 5 }),
      });
      assert.equal(res.status, 200);
      await res.json();
      const deadline = Date.now() + 5000;
      while (!/POST \/v1\/completions 200/.test((log = logged())) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.match(log, /cmpl-[0-9a-f]+ POST \/v1\/completions 200 prompt=6 completion=5 cached=0 ttft=\d+ms [\d.]+ tok\/s total=\d+ms/);
    } finally {
      child.kill("SIGTERM");
    }
    const [code] = await once(child, "exit");
    assert.equal(code, 0);
    assert.match(logged(), /SIGTERM: shutting down/);
  });

  it("bad flags: one line on stderr, exit status 1", () => {
    const r = spawnSync(process.execPath, [main, "serve", "--max-batch", "0"], { encoding: "utf8" });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^nanogpt-infer: --max-batch must be an integer >= 1/);
    const help = spawnSync(process.execPath, [main, "serve", "--help"], { encoding: "utf8" });
    assert.match(help.stdout, /--kv-memory MB/);
  });
});
