import { describe, expect, it } from 'vitest';
import { foreignAnswer } from './supervisor.js';

const docs = { name: 'docs', port: 3300 };
const extra = { name: 'prometheus', port: 9090 };

describe('foreignAnswer: is this /health answer from the process we started?', () => {
  it('ours: our name and our pid', () => {
    expect(foreignAnswer(docs, 100, { service: 'docs', pid: 100 })).toBeNull();
  });

  it('another program: no name, another name, no pid, or another pid', () => {
    expect(foreignAnswer(docs, 100, { status: 'ok' } as object)).toBe(
      'port 3300 held by another program (not ours)',
    );
    expect(foreignAnswer(docs, 100, { service: 'idea-bank', pid: 100 })).toBe(
      "port 3300 held by another program (pid 100, answering as 'idea-bank')",
    );
    expect(foreignAnswer(docs, 100, { service: 'docs' })).toMatch(/held by another program \(not ours\)/);
    // The same service of another data home, left running on the port.
    expect(foreignAnswer(docs, 100, { service: 'docs', pid: 4242 })).toBe(
      'port 3300 held by another program (pid 4242)',
    );
  });

  it('with no supervisor to ask for the pid, the name decides', () => {
    expect(foreignAnswer(docs, null, { service: 'docs', pid: 4242 })).toBeNull();
    expect(foreignAnswer(docs, undefined, { status: 'ok' } as object)).toMatch(/held by another program/);
  });

  it('an extra process answers as it likes; a pid it gives is checked', () => {
    expect(foreignAnswer(extra, 7, {})).toBeNull();
    expect(foreignAnswer(extra, 7, { pid: 7 })).toBeNull();
    expect(foreignAnswer(extra, 7, { pid: 8 })).toBe('port 9090 held by another program (pid 8)');
  });
});
