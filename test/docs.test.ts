import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { repoRoot } from "./paths.js";

/** README.md and every Markdown file under docs/. */
function docFiles(): string[] {
  const docs = path.join(repoRoot, "docs");
  const inDocs = fs.existsSync(docs) ? fs.readdirSync(docs).filter((f) => f.endsWith(".md")).map((f) => path.join("docs", f)) : [];
  return ["README.md", ...inDocs.sort()];
}

const TOP = ["src", "docs", "test", "scripts", "bench", "examples", "assembly", "models"];

/**
 * Repository paths a document names: tokens such as src/model/shape.ts or docs/ (not preceded by
 * a letter, dot, slash or dash, so dist/src/... and ../src/... are not read as repo paths), and
 * the targets of relative Markdown links, resolved against the document's folder.
 */
export function namedPaths(doc: string, text: string): string[] {
  const found = new Set<string>();
  const token = new RegExp(String.raw`(?<![\w./-])(?:${TOP.join("|")})/[\w./-]*`, "g");
  for (const m of text.matchAll(token)) found.add(m[0].replace(/[.]+$/, ""));
  const link = /\]\(([^)\s#]+)(?:#[^)]*)?\)/g;
  for (const m of text.matchAll(link)) {
    const target = m[1];
    if (/^[a-z]+:/i.test(target)) continue; // http:, https:, mailto:
    found.add(path.posix.normalize(path.posix.join(path.posix.dirname(doc), target)));
  }
  return [...found].sort();
}

describe("docs", () => {
  it("names only paths that exist in the repository", () => {
    let checked = 0;
    const missing: string[] = [];
    for (const doc of docFiles()) {
      const text = fs.readFileSync(path.join(repoRoot, doc), "utf8");
      for (const p of namedPaths(doc, text)) {
        checked++;
        if (!fs.existsSync(path.join(repoRoot, p))) missing.push(`${doc}: ${p}`);
      }
    }
    assert.deepEqual(missing, []);
    assert.ok(checked > 50, `only ${checked} paths found: is the extraction broken?`);
  });

  it("README.md stays under 250 lines", () => {
    const lines = fs.readFileSync(path.join(repoRoot, "README.md"), "utf8").split("\n").length;
    assert.ok(lines <= 250, `README.md has ${lines} lines`);
  });

  it("extracts paths from tokens and relative links, not from dist/ or URLs", () => {
    const text = "see `src/model/shape.ts`, docs/ and [x](../assembly/rope.ts#L3); not dist/src/a.js or [y](https://a/src/b)";
    assert.deepEqual(namedPaths("docs/a.md", text), ["assembly/rope.ts", "docs/", "src/model/shape.ts"]);
  });
});

describe("examples", () => {
  const dir = path.join(repoRoot, "examples");
  const scripts = fs.readdirSync(dir).filter((f) => f.endsWith(".mjs")).sort();

  it("has at least three", () => assert.ok(scripts.length >= 3, scripts.join(", ")));

  for (const script of scripts) {
    it(`node examples/${script} exits 0 and prints`, () => {
      const r = spawnSync(process.execPath, [path.join(dir, script)], { cwd: repoRoot, encoding: "utf8", timeout: 60_000 });
      assert.equal(r.error, undefined, `${script}: ${r.error}`);
      assert.equal(r.status, 0, `${script} exited ${r.status} (${r.signal}):\n${r.stderr}`);
      assert.ok(r.stdout.trim().length > 0, `${script} printed nothing`);
    });
  }
});
