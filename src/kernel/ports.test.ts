import { describe, expect, it } from 'vitest';
import { freePort, freePorts } from './ports.js';

describe('freePort', () => {
  it('hands out no port twice in 2,000 calls, though the OS gives just-freed ports again', async () => {
    const ports: number[] = [];
    for (let i = 0; i < 2_000; i++) ports.push(await freePort());
    expect(new Set(ports).size).toBe(ports.length);
  });

  it('gives as many different ports as asked', async () => {
    const ports = await freePorts(6);
    expect(new Set(ports).size).toBe(6);
  });
});
