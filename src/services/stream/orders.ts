import type { OrderManagerEvent } from '../../domain/order-events.js';
import type { OrderEventType } from '../../domain/orders.js';
import type { FeedRecord } from '../../kernel/feed/index.js';
import type { Logger } from '../../kernel/logger.js';

type Publish = (channel: string, data: unknown) => void;

/** Order-event types whose event can carry fills, and so move positions. */
const FILL_EVENTS: ReadonlySet<OrderEventType> = new Set(['partially_filled', 'filled', 'resolved']);

/**
 * order-manager's feed → `orders` (its order events as journaled, and risk rejections), `risk`
 * (limits, trading state, kill switch, rejections) and `positions`. Positions and P&L are computed
 * in one place, the order manager: after fills the stream fetches its `/api/positions` (one
 * request at a time, coalescing the fills that arrive meanwhile) and publishes the list when it changed.
 */
export class OrderChannels {
  private refreshing = false;
  private refreshAgain = false;
  private lastPositions = '';
  positionFetchFailures = 0;

  constructor(
    private readonly positionsUrl: string,
    private readonly publish: Publish,
    private readonly logger: Logger,
    private readonly headers: Record<string, string> = {},
  ) {}

  onRecords(records: FeedRecord<OrderManagerEvent>[]): void {
    let fills = false;
    for (const { data: e } of records) {
      switch (e.type) {
        case 'order.event':
          if (FILL_EVENTS.has(e.data.event.type)) fills = true;
          this.publish('orders', e);
          break;
        case 'order.submitted':
        case 'order.sent':
          this.publish('orders', e);
          break;
        case 'risk.rejected':
          this.publish('orders', e);
          this.publish('risk', e);
          break;
        case 'risk.limits':
        case 'risk.state':
        case 'risk.kill_switch':
          this.publish('risk', e);
          break;
        // Signals stay in the order manager (GET /api/signals).
      }
    }
    if (fills) this.refreshPositions();
  }

  /** Fetches the positions and publishes them if they changed; calls during a fetch fold into one more. */
  refreshPositions(): void {
    if (this.refreshing) {
      this.refreshAgain = true;
      return;
    }
    this.refreshing = true;
    void this.fetchPositions().finally(() => {
      this.refreshing = false;
      if (this.refreshAgain) {
        this.refreshAgain = false;
        this.refreshPositions();
      }
    });
  }

  private async fetchPositions(): Promise<void> {
    try {
      const res = await fetch(this.positionsUrl, {
        headers: this.headers,
        signal: AbortSignal.timeout(2_000),
      });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const body = (await res.json()) as { data?: unknown[] };
      const text = JSON.stringify(body.data ?? []);
      if (text === this.lastPositions) return;
      this.lastPositions = text;
      this.publish('positions', { positions: body.data ?? [] });
    } catch (err) {
      this.positionFetchFailures++;
      this.logger.warn(
        { event: 'stream.positions_fetch_failed', err: (err as Error).message },
        'could not fetch positions from the order manager',
      );
    }
  }
}
