import path from "node:path";
import { UserError } from "../errors.js";

/**
 * `dir/name` for a relative file name that came from a file or a server (a shard listed in an
 * index, a path in a Hub listing), refusing any name that could leave `dir`: absolute, with a
 * `..` or empty segment, or with a backslash (a separator on Windows, never in a Hub path).
 * The check is on the name, not on where symlinks lead, because a Hub cache snapshot is
 * symlinks into its blobs/ folder by design.
 */
export function fileInside(dir: string, name: string, what: string): string {
  const segments = name.split("/");
  const unsafe =
    name === "" || name.includes("\\") || name.includes("\0") || path.isAbsolute(name) || segments.some((s) => s === "" || s === "." || s === "..");
  const resolved = path.resolve(dir, name);
  if (unsafe || !resolved.startsWith(path.resolve(dir) + path.sep)) {
    throw new UserError(`${what}: refusing file name ${JSON.stringify(name)}: it must be a relative path inside ${dir}`);
  }
  return path.join(dir, name);
}
