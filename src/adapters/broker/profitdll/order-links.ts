import { closeSync, fdatasyncSync, openSync, readFileSync, writeSync } from 'node:fs';
import type { BrokerFill, BrokerOrderRequest } from '../../../domain/execution.js';
import { writeFileDurably } from '../../../kernel/fs.js';

/** A request about to be sent, written before SendOrder: found again by its content if we die before its link. */
type IntentRecord = { t: 'intent'; c: string; at: number; req: BrokerOrderRequest };
/** Our clientOrderId is the DLL's ClOrdID from here on. */
type LinkRecord = { t: 'link'; c: string; id: string };
/** A fill worked out from the DLL's cumulative quantity and average price (the DLL tells no executions). */
type FillRecord = { t: 'fill'; id: string; cum: number; qty: number; price: number; ts: number };
type OrderLinkRecord = IntentRecord | LinkRecord | FillRecord;

/**
 * Which of the DLL's orders are ours, and their fills. ProfitDLL carries no client order id and
 * reports an order's fills only as a running total, so both are kept here, each record fsynced
 * before anything is told upward: after a crash, reconciliation finds every order under the
 * clientOrderId the order manager journaled, and every fill under the id it already holds.
 * Without a file (tests of one module) it is memory only.
 */
export class OrderLinks {
  private readonly intents = new Map<string, IntentRecord>();
  private readonly idByClient = new Map<string, string>();
  private readonly clientById = new Map<string, string>();
  private readonly fillsById = new Map<string, FillRecord[]>();
  private fd: number | null = null;

  /**
   * Loads the file, keeping the orders sent in the last KEEP_DAYS: older ones are closed (the DLL
   * takes DAY orders only) and reconciliation never asks about them. Rewritten when that drops any.
   */
  constructor(file: string | null, now = Date.now()) {
    if (!file) return;
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const records: OrderLinkRecord[] = [];
    for (const line of text.split('\n')) {
      if (!line) continue;
      try {
        records.push(JSON.parse(line) as OrderLinkRecord);
      } catch {
        // the torn last line of a crash: its write never returned, so nothing relied on it
      }
    }
    const kept = recent(records, now - KEEP_DAYS * 86_400_000);
    for (const record of kept) this.apply(record);
    if (kept.length < records.length) {
      writeFileDurably(file, kept.map((r) => `${JSON.stringify(r)}\n`).join(''));
    }
    this.fd = openSync(file, 'a', 0o600);
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }

  intent(clientOrderId: string, req: BrokerOrderRequest, at: number): void {
    this.write({ t: 'intent', c: clientOrderId, at, req });
  }

  link(clientOrderId: string, clOrdId: string): void {
    if (this.idByClient.get(clientOrderId) === clOrdId) return;
    this.write({ t: 'link', c: clientOrderId, id: clOrdId });
  }

  addFill(clOrdId: string, cum: number, qty: number, price: number, ts: number): BrokerFill {
    const record: FillRecord = { t: 'fill', id: clOrdId, cum, qty, price, ts };
    this.write(record);
    return fillOf(record);
  }

  clientOf(clOrdId: string): string | undefined {
    return this.clientById.get(clOrdId);
  }

  idOf(clientOrderId: string): string | undefined {
    return this.idByClient.get(clientOrderId);
  }

  requestOf(clientOrderId: string): BrokerOrderRequest | undefined {
    return this.intents.get(clientOrderId)?.req;
  }

  /** The fills recorded for an order, oldest first, and the quantity they add up to. */
  fills(clOrdId: string): { fills: BrokerFill[]; cum: number; value: number } {
    const records = this.fillsById.get(clOrdId) ?? [];
    let value = 0;
    for (const f of records) value += f.qty * f.price;
    return { fills: records.map(fillOf), cum: records.at(-1)?.cum ?? 0, value };
  }

  /** Requests sent (or about to be) whose order the DLL never named to us, oldest first. */
  unlinked(): { clientOrderId: string; at: number; req: BrokerOrderRequest }[] {
    return [...this.intents.values()]
      .filter((i) => !this.idByClient.has(i.c))
      .map((i) => ({ clientOrderId: i.c, at: i.at, req: i.req }));
  }

  private write(record: OrderLinkRecord): void {
    if (this.fd !== null) {
      writeSync(this.fd, `${JSON.stringify(record)}\n`);
      fdatasyncSync(this.fd);
    }
    this.apply(record);
  }

  private apply(record: OrderLinkRecord): void {
    switch (record.t) {
      case 'intent':
        this.intents.set(record.c, record);
        return;
      case 'link':
        this.idByClient.set(record.c, record.id);
        this.clientById.set(record.id, record.c);
        return;
      case 'fill': {
        const list = this.fillsById.get(record.id) ?? [];
        if ((list.at(-1)?.cum ?? 0) < record.cum) list.push(record);
        this.fillsById.set(record.id, list);
      }
    }
  }
}

/** How long an order's records are kept. */
const KEEP_DAYS = 7;

/** The records of orders sent at or after `since` (by their intent; an order without one is dropped). */
function recent(records: OrderLinkRecord[], since: number): OrderLinkRecord[] {
  const clients = new Set<string>();
  for (const r of records) if (r.t === 'intent' && r.at >= since) clients.add(r.c);
  const ids = new Set<string>();
  for (const r of records) if (r.t === 'link' && clients.has(r.c)) ids.add(r.id);
  return records.filter((r) => (r.t === 'fill' ? ids.has(r.id) : clients.has(r.c)));
}

/** A fill's id is the order's and the running total it brought: the same fill always gets the same id. */
export const fillId = (clOrdId: string, cum: number) => `${clOrdId}#${cum}`;

function fillOf(r: FillRecord): BrokerFill {
  return { tradeId: fillId(r.id, r.cum), qty: r.qty, price: r.price, ts: r.ts };
}
