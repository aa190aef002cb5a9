// Compares two V8 heap snapshots (.heapsnapshot, e.g. from the soak's --heap-snapshot-at): object
// counts and self sizes by node type and constructor, the groups that grew most, and for chosen
// constructors the retainer paths that hold most of their instances.
//
//   node --max-old-space-size=12000 bench/heap-diff.mjs before.heapsnapshot after.heapsnapshot \
//     [--top 40] [--retainers Array,Object] [--depth 6]
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values: opts, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    top: { type: 'string', default: '40' },
    retainers: { type: 'string', default: '' },
    depth: { type: 'string', default: '6' },
    paths: { type: 'string', default: '8' },
  },
});

/** The flat snapshot arrays, with field offsets looked up from its meta. */
function load(file) {
  const snap = JSON.parse(readFileSync(file, 'utf8'));
  const meta = snap.snapshot.meta;
  const nf = meta.node_fields;
  const ef = meta.edge_fields;
  return {
    file,
    nodes: snap.nodes,
    edges: snap.edges,
    strings: snap.strings,
    nodeTypes: meta.node_types[0],
    edgeTypes: meta.edge_types[0],
    N: nf.length,
    E: ef.length,
    nType: nf.indexOf('type'),
    nName: nf.indexOf('name'),
    nSize: nf.indexOf('self_size'),
    nEdges: nf.indexOf('edge_count'),
    eType: ef.indexOf('type'),
    eName: ef.indexOf('name_or_index'),
    eTo: ef.indexOf('to_node'),
  };
}

/** Groups worth telling apart: objects by constructor, strings and code by type only. */
function groupOf(s, i) {
  const type = s.nodeTypes[s.nodes[i + s.nType]];
  if (type === 'object' || type === 'native' || type === 'closure' || type === 'array' || type === 'hidden')
    return `${type}:${s.strings[s.nodes[i + s.nName]]}`;
  return type;
}

function census(s) {
  const groups = new Map();
  let total = 0;
  for (let i = 0; i < s.nodes.length; i += s.N) {
    const g = groupOf(s, i);
    const size = s.nodes[i + s.nSize];
    total += size;
    const cur = groups.get(g) ?? { count: 0, size: 0 };
    cur.count++;
    cur.size += size;
    groups.set(g, cur);
  }
  return { groups, total, nodes: s.nodes.length / s.N };
}

/**
 * For nodes of one group, the most common retainer paths (edge names up the first retainer of
 * each, ignoring weak edges), with how many instances and bytes each path holds.
 */
function retainerPaths(s, group, depth, limit) {
  const nodeCount = s.nodes.length / s.N;
  // First strong retainer of each node (parent node index and edge name).
  const parent = new Int32Array(nodeCount).fill(-1);
  const via = new Array(nodeCount);
  let e = 0;
  for (let n = 0; n < nodeCount; n++) {
    const edges = s.nodes[n * s.N + s.nEdges];
    for (let k = 0; k < edges; k++, e += s.E) {
      const type = s.edgeTypes[s.edges[e + s.eType]];
      if (type === 'weak' || type === 'shortcut') continue;
      const to = s.edges[e + s.eTo] / s.N;
      if (parent[to] !== -1) continue;
      parent[to] = n;
      const nameOrIndex = s.edges[e + s.eName];
      // Element indexes are left out, so the instances of one array share a path.
      via[to] = type === 'element' ? '[]' : type === 'hidden' ? '[h]' : s.strings[nameOrIndex];
    }
  }
  const paths = new Map();
  for (let n = 0; n < nodeCount; n++) {
    if (groupOf(s, n * s.N) !== group) continue;
    const steps = [];
    for (let cur = n, d = 0; d < depth && parent[cur] !== -1; d++) {
      const p = parent[cur];
      steps.push(`${groupOf(s, p * s.N)}.${via[cur]}`);
      cur = p;
    }
    const key = steps.join(' <- ');
    const cur = paths.get(key) ?? { count: 0, size: 0 };
    cur.count++;
    cur.size += s.nodes[n * s.N + s.nSize];
    paths.set(key, cur);
  }
  return [...paths].sort((a, b) => b[1].size - a[1].size).slice(0, limit);
}

const mb = (b) => (b / 2 ** 20).toFixed(2);

const [a, b] = positionals;
if (!a) {
  console.error(
    'usage: node bench/heap-diff.mjs <before.heapsnapshot> [after.heapsnapshot] [--retainers A,B]',
  );
  process.exit(2);
}
const before = load(a);
const cb = census(before);
console.log(`${a}: ${cb.nodes} nodes, ${mb(cb.total)} MB self size`);
const top = Number(opts.top);
if (b) {
  const after = load(b);
  const ca = census(after);
  console.log(`${b}: ${ca.nodes} nodes, ${mb(ca.total)} MB self size`);
  const rows = [];
  for (const g of new Set([...cb.groups.keys(), ...ca.groups.keys()])) {
    const x = cb.groups.get(g) ?? { count: 0, size: 0 };
    const y = ca.groups.get(g) ?? { count: 0, size: 0 };
    rows.push({ g, dCount: y.count - x.count, dSize: y.size - x.size, count: y.count, size: y.size });
  }
  rows.sort((p, q) => q.dSize - p.dSize);
  console.log(`\nGrew most (by self size), top ${top}:`);
  console.log('Δ MB\tΔ count\tcount after\tMB after\tgroup');
  for (const r of rows.slice(0, top))
    console.log(`${mb(r.dSize)}\t${r.dCount}\t${r.count}\t${mb(r.size)}\t${r.g}`);
  console.log(`\nShrank most:`);
  for (const r of rows.slice(-8).reverse())
    console.log(`${mb(r.dSize)}\t${r.dCount}\t${r.count}\t${mb(r.size)}\t${r.g}`);
  for (const group of opts.retainers.split(',').filter(Boolean)) {
    console.log(`\nRetainers of ${group} (after):`);
    for (const [p, v] of retainerPaths(after, group, Number(opts.depth), Number(opts.paths)))
      console.log(`${v.count}\t${mb(v.size)} MB\t${p}`);
  }
} else {
  const rows = [...cb.groups].sort((p, q) => q[1].size - p[1].size).slice(0, top);
  for (const [g, v] of rows) console.log(`${mb(v.size)}\t${v.count}\t${g}`);
  for (const group of opts.retainers.split(',').filter(Boolean)) {
    console.log(`\nRetainers of ${group}:`);
    for (const [p, v] of retainerPaths(before, group, Number(opts.depth), Number(opts.paths)))
      console.log(`${v.count}\t${mb(v.size)} MB\t${p}`);
  }
}
