/**
 * Cuts streamed text at the first stop string. Text that could still turn out to be the start
 * of a stop string is held back until the next piece settles it, so a stop string split over
 * several tokens is never half-printed.
 */
export class StopStringMatcher {
  private pending = "";
  stopped = false;

  constructor(private readonly stops: readonly string[]) {}

  /** Adds decoded text; returns what can be emitted now. Sets `stopped` when a stop string appears. */
  push(text: string): string {
    if (this.stopped) return "";
    this.pending += text;
    let cut = -1;
    for (const s of this.stops) {
      const at = this.pending.indexOf(s);
      if (at !== -1 && (cut === -1 || at < cut)) cut = at;
    }
    if (cut !== -1) {
      this.stopped = true;
      const out = this.pending.slice(0, cut);
      this.pending = "";
      return out;
    }
    const hold = this.longestStopPrefixAtEnd();
    const out = this.pending.slice(0, this.pending.length - hold);
    this.pending = this.pending.slice(this.pending.length - hold);
    return out;
  }

  /** The held-back text, once generation has ended for another reason. */
  flush(): string {
    const out = this.stopped ? "" : this.pending;
    this.pending = "";
    return out;
  }

  private longestStopPrefixAtEnd(): number {
    let best = 0;
    for (const s of this.stops) {
      for (let len = Math.min(s.length - 1, this.pending.length); len > best; len--) {
        if (this.pending.endsWith(s.slice(0, len))) {
          best = len;
          break;
        }
      }
    }
    return best;
  }
}
