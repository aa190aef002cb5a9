// Worker thread of the soak (bench/soak.mjs): stream hub clients subscribed to every channel.
// Each client parses every frame (a JSON array of messages), counts messages per channel kind,
// counts seq gaps per channel (conflation of a client that fell behind) and reconnects after a
// close, so the hub carries a steady load for the whole soak. The parent asks for the counters
// with {op: 'stats'} and stops the clients with {op: 'stop'}.
import { parentPort, workerData } from 'node:worker_threads';
import { WebSocket } from 'ws';

const { url, apiKey, channels, clients: count } = workerData;
const RECONNECT_MS = 1_000;

const totals = {
  connects: 0,
  closes: {},
  errors: 0,
  frames: 0,
  bytes: 0,
  messages: {},
  seqGaps: 0,
  replies: {},
};
let stopping = false;
const sockets = new Set();

function kindOf(channel) {
  const i = channel.indexOf(':');
  return i < 0 ? channel : channel.slice(0, i);
}

function connect(n) {
  if (stopping) return;
  const ws = new WebSocket(url, { headers: { 'x-api-key': apiKey }, perMessageDeflate: false });
  const lastSeq = new Map();
  sockets.add(ws);
  ws.on('open', () => {
    totals.connects++;
    ws.send(JSON.stringify({ op: 'subscribe', channels, id: `soak-${n}` }));
  });
  ws.on('message', (data) => {
    totals.frames++;
    totals.bytes += data.length;
    let msgs;
    try {
      msgs = JSON.parse(data.toString());
    } catch {
      totals.replies.unparsable = (totals.replies.unparsable ?? 0) + 1;
      return;
    }
    for (const m of msgs) {
      if (m.channel === undefined) {
        totals.replies[m.type] = (totals.replies[m.type] ?? 0) + 1;
        continue;
      }
      const kind = kindOf(m.channel);
      totals.messages[kind] = (totals.messages[kind] ?? 0) + 1;
      const prev = lastSeq.get(m.channel);
      if (prev !== undefined && m.seq > prev + 1) totals.seqGaps++;
      lastSeq.set(m.channel, m.seq);
    }
  });
  ws.on('error', () => {
    totals.errors++;
  });
  ws.on('close', (code) => {
    sockets.delete(ws);
    totals.closes[code] = (totals.closes[code] ?? 0) + 1;
    if (!stopping) setTimeout(() => connect(n), RECONNECT_MS).unref();
  });
}

for (let i = 0; i < count; i++) connect(i);

parentPort.on('message', (msg) => {
  if (msg.op === 'stats') {
    parentPort.postMessage({ op: 'stats', stats: { ...totals, open: sockets.size } });
  } else if (msg.op === 'stop') {
    stopping = true;
    for (const ws of sockets) ws.terminate();
    parentPort.postMessage({ op: 'stopped' });
    parentPort.close();
  }
});
