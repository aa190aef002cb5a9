import type { Clock } from '../../../kernel/clock.js';

/**
 * What the simulator can break on purpose, for tests and operator drills:
 * - `disconnect`: the connection drops and cannot be re-established while the fault lasts;
 * - `stall`: connected, but nothing arrives (the market goes on; those trades are missed live);
 * - `slow-callbacks`: data arrives late, in bursts;
 * - `login-fail`: the broker refuses the credentials;
 * - `reject-orders`: every new order is rejected.
 */
export const FAULT_KINDS = ['disconnect', 'stall', 'slow-callbacks', 'login-fail', 'reject-orders'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface ActiveFault {
  kind: FaultKind;
  /** Epoch ms (by the adapter's clock) when it ends by itself; null until cleared. */
  until: number | null;
}

/** The faults in force, measured on the adapter's clock so tests can expire them with a ManualClock. */
export class FaultSwitchboard {
  /** Per kind, when its latest occurrence ends (or ended): infinite until cleared. */
  private readonly endByKind = new Map<FaultKind, number>();

  constructor(private readonly clock: Clock) {}

  inject(kind: FaultKind, durationMs?: number): void {
    if (!FAULT_KINDS.includes(kind)) throw new Error(`unknown fault kind ${String(kind)}`);
    if (durationMs !== undefined && !(durationMs > 0)) {
      throw new Error(`fault duration must be a positive number of ms, got ${durationMs}`);
    }
    const end = durationMs === undefined ? Number.POSITIVE_INFINITY : this.clock.now() + durationMs;
    this.endByKind.set(kind, end);
  }

  /** Ends every active fault now. */
  clear(): void {
    const now = this.clock.now();
    for (const [kind, end] of this.endByKind) this.endByKind.set(kind, Math.min(end, now));
  }

  isActive(kind: FaultKind): boolean {
    return this.clock.now() < this.endOf(kind);
  }

  /** When the latest fault of this kind ends or ended; -Infinity if there never was one. */
  endOf(kind: FaultKind): number {
    return this.endByKind.get(kind) ?? Number.NEGATIVE_INFINITY;
  }

  active(): ActiveFault[] {
    return FAULT_KINDS.filter((kind) => this.isActive(kind)).map((kind) => {
      const end = this.endOf(kind);
      return { kind, until: Number.isFinite(end) ? end : null };
    });
  }
}
