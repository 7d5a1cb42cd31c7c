import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { peersDir } from "./paths.js";

/**
 * The peers (other engines) that benchmarks and checks run against, installed on demand into
 * bench/.peers/ at pinned versions: never the project's dependencies.
 */
export const PEER_VERSIONS = { "onnxruntime-node": "1.30.0", "node-llama-cpp": "3.21.1", "@wllama/wllama": "3.13.0" } as const;
export type PeerPackage = keyof typeof PEER_VERSIONS;

function installedVersion(pkg: PeerPackage): string | undefined {
  const file = path.join(peersDir(), "node_modules", pkg, "package.json");
  if (!fs.existsSync(file)) return undefined;
  const json: { version?: string } = JSON.parse(fs.readFileSync(file, "utf8"));
  return json.version;
}

/**
 * Installs those of `packages` (default: every peer) whose pinned version is missing; returns,
 * per package, null or why it is unusable.
 */
export function installPeers(log: (s: string) => void, packages?: readonly PeerPackage[]): Record<PeerPackage, string | null> {
  const dir = peersDir();
  fs.mkdirSync(dir, { recursive: true });
  // Keeps the install and the cache out of git without touching the project's .gitignore.
  fs.writeFileSync(path.join(dir, ".gitignore"), "*\n");
  // Its own package.json, so npm never walks up to the project's.
  if (!fs.existsSync(path.join(dir, "package.json"))) fs.writeFileSync(path.join(dir, "package.json"), '{ "private": true }\n');
  const pkgs = packages ?? Object.keys(PEER_VERSIONS).filter((p): p is PeerPackage => p in PEER_VERSIONS);
  const missing = pkgs.filter((p) => installedVersion(p) !== PEER_VERSIONS[p]);
  if (missing.length > 0) {
    const specs = missing.map((p) => `${p}@${PEER_VERSIONS[p]}`);
    log(`installing ${specs.join(", ")} into ${dir} ...`);
    const npm = process.platform === "win32" ? "npm.cmd" : "npm";
    // ONNXRUNTIME_NODE_INSTALL=skip: its install script would otherwise fetch GPU libraries; the CPU binary ships in the package.
    spawnSync(npm, ["install", "--prefix", dir, "--save-exact", "--no-audit", "--no-fund", ...specs], {
      // npm's output to stderr: stdout carries only the table.
      stdio: ["ignore", 2, 2],
      env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: "skip" },
    });
  }
  const status = (p: PeerPackage) => (installedVersion(p) === PEER_VERSIONS[p] ? null : `npm install ${p}@${PEER_VERSIONS[p]} failed`);
  return { "onnxruntime-node": status("onnxruntime-node"), "node-llama-cpp": status("node-llama-cpp"), "@wllama/wllama": status("@wllama/wllama") };
}

