/**
 * Work batched per event-loop turn: `schedule()` as often as you like during a turn, and `run`
 * happens once, at the end of it (`setImmediate`), with everything the turn added. `flushNow()`
 * runs it at once instead (the pending run then finds nothing, or runs again only if scheduled
 * again). One callback bound once and no allocation per schedule: this is on every hot path (the
 * journal's writes, the feed's and the stream's frames, the order journal's commits).
 */
export class TurnBatcher {
  private scheduled = false;

  constructor(
    private readonly run: () => void,
    private readonly defer: (fn: () => void) => void = setImmediate,
  ) {}

  /** Whether a run is due at the end of this turn. */
  get pending(): boolean {
    return this.scheduled;
  }

  schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    this.defer(this.fire);
  }

  /** Runs now; a run already scheduled for this turn is dropped unless scheduled again. */
  flushNow(): void {
    this.scheduled = false;
    this.run();
  }

  private readonly fire = (): void => {
    if (!this.scheduled) return; // flushed meanwhile
    this.scheduled = false;
    this.run();
  };
}
