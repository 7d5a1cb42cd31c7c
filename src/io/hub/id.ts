/**
 * Hugging Face Hub model ids: "org/name" with an optional "@revision" (a branch, tag or commit).
 * Only two-part ids are accepted, so a bare word is never mistaken for a download.
 */
export interface HubId {
  readonly repo: string; // "org/name"
  readonly revision: string; // "main" unless given
}

const PART = "[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9_])?";
const HUB_ID = new RegExp(`^(${PART}/${PART})(?:@([A-Za-z0-9._/-]+))?$`);

export function parseHubId(source: string): HubId | null {
  const m = HUB_ID.exec(source);
  if (m === null) return null;
  const [, repo, revision] = m;
  // The Hub forbids these in names; refusing them also keeps cache paths inside the cache.
  if (repo.includes("--") || repo.includes("..") || revision?.includes("..")) return null;
  return { repo, revision: revision ?? "main" };
}

export function formatHubId(id: HubId): string {
  return id.revision === "main" ? id.repo : `${id.repo}@${id.revision}`;
}

export const COMMIT_HASH = /^[0-9a-f]{40}$/;
