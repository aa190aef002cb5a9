import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { BrokerOrderRequest } from '../../../domain/execution.js';
import { OrderLinks } from './order-links.js';

const DAY = 86_400_000;
const NOW = Date.UTC(2026, 11, 7, 15);
const req = (clientOrderId: string): BrokerOrderRequest => ({
  clientOrderId,
  account: 'FAKE-001',
  symbol: 'PETR4',
  exchange: 'B',
  side: 'BUY',
  type: 'LIMIT',
  quantity: 100,
  price: 30,
  timeInForce: 'DAY',
});

describe('OrderLinks', () => {
  it('survives a restart: links, fills and requests not yet named, a torn last line ignored', () => {
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'ts-links-')), 'links.jsonl');
    const a = new OrderLinks(file, NOW);
    a.intent('c-1', req('c-1'), NOW);
    a.link('c-1', 'X-1');
    expect(a.addFill('X-1', 40, 40, 30, NOW)).toEqual({ tradeId: 'X-1#40', qty: 40, price: 30, ts: NOW });
    a.addFill('X-1', 100, 60, 29.5, NOW + 1);
    a.intent('c-2', req('c-2'), NOW + 2);
    a.close();
    writeFileSync(file, `${readFileSync(file, 'utf8')}{"t":"link","c":"c-2","id`);

    const b = new OrderLinks(file, NOW + 10);
    expect(b.clientOf('X-1')).toBe('c-1');
    expect(b.fills('X-1')).toMatchObject({ cum: 100, value: 40 * 30 + 60 * 29.5 });
    expect(b.fills('X-1').fills.map((f) => f.tradeId)).toEqual(['X-1#40', 'X-1#100']);
    expect(b.unlinked().map((u) => u.clientOrderId)).toEqual(['c-2']);
    b.close();
  });

  it('forgets orders sent more than a week ago, and rewrites the file without them', () => {
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'ts-links-')), 'links.jsonl');
    const a = new OrderLinks(file, NOW - 10 * DAY);
    a.intent('old', req('old'), NOW - 10 * DAY);
    a.link('old', 'X-old');
    a.addFill('X-old', 100, 100, 30, NOW - 10 * DAY);
    a.intent('new', req('new'), NOW - DAY);
    a.link('new', 'X-new');
    a.close();
    const b = new OrderLinks(file, NOW);
    expect(b.clientOf('X-old')).toBeUndefined();
    expect(b.fills('X-old').cum).toBe(0);
    expect(b.clientOf('X-new')).toBe('new');
    b.close();
    expect(readFileSync(file, 'utf8')).not.toContain('old');
  });
});
