import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SystemdNotifier } from './notify.js';

/**
 * A stand-in for systemd's notify socket: a Unix datagram socket (Node has none, Python does)
 * that prints every message and closes the file descriptors a barrier sends, as systemd does,
 * so the real `systemd-notify` returns.
 */
const RECEIVER = `
import os, socket, sys, array
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("listening", flush=True)
while True:
    msg, anc, flags, addr = s.recvmsg(4096, socket.CMSG_SPACE(16 * 4))
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds = array.array("i"); fds.frombytes(data[: len(data) - (len(data) % fds.itemsize)])
            for fd in fds: os.close(fd)
    print(msg.decode().replace("\\n", "|"), flush=True)
`;

describe('SystemdNotifier', () => {
  it('tells the notify socket READY, the watchdog ping and STOPPING through systemd-notify', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ts-notify-'));
    const socketPath = path.join(dir, 'notify');
    const receiver = spawn('python3', ['-c', RECEIVER, socketPath], { stdio: ['ignore', 'pipe', 'inherit'] });
    let lines = '';
    receiver.stdout.on('data', (c: Buffer) => {
      lines += c.toString();
    });
    const saved = process.env.NOTIFY_SOCKET;
    try {
      while (!lines.includes('listening')) await new Promise((r) => setTimeout(r, 50));
      process.env.NOTIFY_SOCKET = socketPath;
      const said: string[] = [];
      const n = new SystemdNotifier((l) => said.push(l));
      expect(await n.ready('3/3 processes up')).toBe(true);
      expect(await n.watchdog('3/3 processes up')).toBe(true);
      expect(await n.stopping()).toBe(true);
      await new Promise((r) => setTimeout(r, 200));
      expect(lines).toMatch(/READY=1/);
      expect(lines).toMatch(/STATUS=3\/3 processes up/);
      expect(lines).toMatch(/WATCHDOG=1/);
      expect(lines).toMatch(/STOPPING=1/);
      expect(said).toEqual([]);

      // No socket: said once, not at every ping, and answered false.
      process.env.NOTIFY_SOCKET = path.join(dir, 'nobody');
      expect(await n.watchdog('x')).toBe(false);
      expect(await n.watchdog('x')).toBe(false);
      expect(said).toHaveLength(1);
    } finally {
      if (saved === undefined) delete process.env.NOTIFY_SOCKET;
      else process.env.NOTIFY_SOCKET = saved;
      receiver.kill();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
