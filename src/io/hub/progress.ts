/**
 * Download progress on stderr: a redrawn bar per file (bytes, speed, ETA) on a terminal, one
 * line at the start and end of each file otherwise (logs, CI), nothing when quiet.
 */
export interface FileProgress {
  /** Bytes received so far, including any resumed from an earlier run. */
  update(bytes: number): void;
  done(): void;
  /** Ends the bar's line so an error message starts on a fresh one. */
  fail(): void;
}

export interface Progress {
  start(file: string, total: number, resumedFrom: number): FileProgress;
  note(message: string): void;
}

const REDRAW_MS = 100;
const BAR_WIDTH = 24;

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["kB", "MB", "GB", "TB"];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)} ${units[u]}`;
}

function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return "--";
  if (s < 10) return `${s.toFixed(1)}s`;
  if (s < 60) return `${Math.round(s)}s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m}m${String(Math.ceil(s % 60)).padStart(2, "0")}s` : `${Math.floor(m / 60)}h${String(m % 60).padStart(2, "0")}m`;
}

const silent: FileProgress = { update() {}, done() {}, fail() {} };

export function createProgress(options: { quiet?: boolean; stream?: NodeJS.WriteStream } = {}): Progress {
  const stream = options.stream ?? process.stderr;
  if (options.quiet) return { start: () => silent, note() {} };
  const tty = stream.isTTY === true;
  return {
    note: (message) => void stream.write(`${message}\n`),
    start(file, total, resumedFrom) {
      const t0 = performance.now();
      let current = resumedFrom;
      let lastDraw = 0;
      const rate = () => (current - resumedFrom) / Math.max(1e-3, (performance.now() - t0) / 1000);
      const draw = (final: boolean) => {
        const frac = total > 0 ? Math.min(1, current / total) : 1;
        const speed = rate();
        const eta = final ? `in ${formatSeconds((performance.now() - t0) / 1000)}` : `ETA ${formatSeconds((total - current) / speed)}`;
        const stats = `${(frac * 100).toFixed(0).padStart(3)}% ${formatBytes(current)}/${formatBytes(total)} ${formatBytes(speed)}/s ${eta}`;
        // Stats always fit; the bar shrinks first, then the name loses its start.
        const room = (stream.columns || 100) - 1 - stats.length - 1;
        const width = Math.max(0, Math.min(BAR_WIDTH, room - file.length - 3));
        const nameRoom = Math.max(1, room - (width > 0 ? width + 3 : 0));
        const name = file.length <= nameRoom ? file : `…${file.slice(file.length - nameRoom + 1)}`;
        const filled = Math.round(frac * width);
        const bar = width > 0 ? ` [${"#".repeat(filled)}${"-".repeat(width - filled)}]` : "";
        stream.write(`\r${name}${bar} ${stats}\x1b[K${final ? "\n" : ""}`);
      };
      if (!tty) stream.write(`downloading ${file} (${formatBytes(total)}${resumedFrom > 0 ? `, resuming at ${formatBytes(resumedFrom)}` : ""})\n`);
      return {
        update(bytes) {
          current = bytes;
          const now = performance.now();
          if (tty && now - lastDraw >= REDRAW_MS) {
            lastDraw = now;
            draw(false);
          }
        },
        done() {
          if (tty) draw(true);
          else stream.write(`downloaded ${file}: ${formatBytes(total)} in ${formatSeconds((performance.now() - t0) / 1000)} (${formatBytes(rate())}/s)\n`);
        },
        fail() {
          if (tty) stream.write("\n");
        },
      };
    },
  };
}
