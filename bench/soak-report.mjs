// Analysis and chart of a soak (bench/soak.mjs): growth fits per process, tick-to-order p99 per
// window, latency drift; an SVG chart screenshotted to PNG with Chromium (playwright-core).
// Standalone: `node bench/soak-report.mjs <samples.json>` re-renders summary and chart of a run.
import { readFileSync } from 'node:fs';
import path from 'node:path';

const MB = 1024 * 1024;
export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

/** Least squares y = a + b·x; b in y units per x unit. */
export function linearFit(xs, ys) {
  const n = xs.length;
  if (n < 2) return null;
  const mx = xs.reduce((s, x) => s + x, 0) / n;
  const my = ys.reduce((s, y) => s + y, 0) / n;
  let sxx = 0;
  let sxy = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    sxx += (xs[i] - mx) ** 2;
    sxy += (xs[i] - mx) * (ys[i] - my);
    syy += (ys[i] - my) ** 2;
  }
  if (sxx === 0) return null;
  const slope = sxy / sxx;
  return { slope, intercept: my - slope * mx, r2: syy === 0 ? 1 : (sxy * sxy) / (sxx * syy), n };
}

/** Theil–Sen: the median of the slopes between every pair of points; a sawtooth barely moves it. */
export function theilSen(xs, ys) {
  const slopes = [];
  for (let i = 0; i < xs.length; i++) {
    for (let j = i + 1; j < xs.length; j++) {
      if (xs[j] !== xs[i]) slopes.push((ys[j] - ys[i]) / (xs[j] - xs[i]));
    }
  }
  if (slopes.length === 0) return null;
  slopes.sort((a, b) => a - b);
  const m = slopes.length >> 1;
  return slopes.length % 2 ? slopes[m] : (slopes[m - 1] + slopes[m]) / 2;
}

/** The lowest point of each window of `size` consecutive points (the floor under a GC sawtooth). */
export function windowMinima(xs, ys, size) {
  const out = { xs: [], ys: [] };
  for (let i = 0; i + size <= xs.length; i += size) {
    let k = i;
    for (let j = i; j < i + size; j++) if (ys[j] < ys[k]) k = j;
    out.xs.push(xs[k]);
    out.ys.push(ys[k]);
  }
  return out;
}

const round = (x, d = 2) => (x === null || x === undefined || Number.isNaN(x) ? null : Number(x.toFixed(d)));

/**
 * Growth of a series after warm-up, in units per hour: least squares over every sample, least
 * squares over the per-window minima (robust to a GC sawtooth), and Theil–Sen over every sample.
 */
export function growth(points, warmupMin, windowSamples) {
  const after = points.filter((p) => p.min >= warmupMin && Number.isFinite(p.v));
  if (after.length < 3) return null;
  const xs = after.map((p) => p.min / 60);
  const ys = after.map((p) => p.v);
  const all = linearFit(xs, ys);
  const minima = windowMinima(xs, ys, windowSamples);
  const minFit = linearFit(minima.xs, minima.ys);
  return {
    samples: after.length,
    hours: round(xs[xs.length - 1] - xs[0], 3),
    first: round(ys[0]),
    last: round(ys[ys.length - 1]),
    min: round(Math.min(...ys)),
    max: round(Math.max(...ys)),
    perHourLinear: round(all?.slope),
    r2: round(all?.r2, 3),
    perHourMinima: round(minFit?.slope),
    minimaPoints: minima.xs.length,
    perHourTheilSen: round(theilSen(xs, ys)),
  };
}

/** Upper bound (ms) of the bucket holding quantile q of a histogram given as [le, count] deltas. */
export function bucketQuantile(buckets, q) {
  const total = buckets.at(-1)?.[1] ?? 0;
  if (total === 0) return null;
  const hit = buckets.find(([, c]) => c >= q * total);
  return hit ? (hit[0] === Number.POSITIVE_INFINITY ? Number.POSITIVE_INFINITY : hit[0] * 1000) : null;
}

function bucketDelta(later, earlier) {
  return later.map(([le, c], i) => [le, c - (earlier?.[i]?.[1] ?? 0)]);
}

/**
 * Tick-to-order (and the in-process part) per window of `windowMin` minutes, from the cumulative
 * histogram buckets of the order manager sampled each minute. A restart of the order manager
 * (counts going down) starts a new baseline.
 */
export function latencyWindows(samples, windowMin, metric) {
  const out = [];
  let base = null;
  for (const s of samples) {
    const b = s.services['order-manager']?.metrics?.[metric];
    if (!b) continue;
    if (base && (b.at(-1)?.[1] ?? 0) < (base.b.at(-1)?.[1] ?? 0)) base = null; // restarted
    if (!base) {
      base = { min: s.min, b };
      continue;
    }
    if (s.min - base.min >= windowMin - 1e-6) {
      const d = bucketDelta(b, base.b);
      out.push({
        from: round(base.min, 1),
        to: round(s.min, 1),
        count: d.at(-1)?.[1] ?? 0,
        p50: bucketQuantile(d, 0.5),
        p99: bucketQuantile(d, 0.99),
      });
      base = { min: s.min, b };
    }
  }
  return out;
}

/** The summary of a soak: per process growth of RSS (and heap, fds), latency per window and its drift. */
export function summarize(run) {
  const { samples, warmupMin, windowSamples = 5 } = run;
  const names = [...new Set(samples.flatMap((s) => Object.keys(s.services)))];
  const processes = {};
  for (const name of names) {
    const pts = (f) =>
      samples
        .map((s) => ({ min: s.min, v: f(s.services[name]) }))
        .filter((p) => p.v !== undefined && p.v !== null);
    const svc = (s) => s?.proc;
    const lag = samples
      .map((s) => s.services[name]?.metrics?.lagP99Ms)
      .filter((v, i) => Number.isFinite(v) && samples[i].min >= warmupMin);
    const lagMax = samples
      .map((s) => s.services[name]?.metrics?.lagMaxMs)
      .filter((v, i) => Number.isFinite(v) && samples[i].min >= warmupMin);
    const restarts = samples.at(-1)?.services[name]?.restarts ?? null;
    const pids = [...new Set(samples.map((s) => s.services[name]?.pid).filter(Boolean))];
    processes[name] = {
      pids,
      restarts,
      rssMB: growth(
        pts((x) => (svc(x) ? svc(x).rssKb / 1024 : undefined)),
        warmupMin,
        windowSamples,
      ),
      rssAnonMB: growth(
        pts((x) => (svc(x) ? svc(x).rssAnonKb / 1024 : undefined)),
        warmupMin,
        windowSamples,
      ),
      heapUsedMB: growth(
        pts((x) => (x?.metrics?.heapUsed !== undefined ? x.metrics.heapUsed / MB : undefined)),
        warmupMin,
        windowSamples,
      ),
      // The heap just after the last major collection: the live set, free of the GC sawtooth.
      heapLiveMB: growth(
        pts((x) => (x?.metrics?.heapLive !== undefined ? x.metrics.heapLive / MB : undefined)),
        warmupMin,
        windowSamples,
      ),
      heapTotalMB: growth(
        pts((x) => (x?.metrics?.heapTotal !== undefined ? x.metrics.heapTotal / MB : undefined)),
        warmupMin,
        windowSamples,
      ),
      externalMB: growth(
        pts((x) => (x?.metrics?.external !== undefined ? x.metrics.external / MB : undefined)),
        warmupMin,
        windowSamples,
      ),
      // Resident anonymous memory outside V8's heap: native allocations (DuckDB, SQLite, buffers,
      // malloc arenas). Growth here with a flat heap points below JavaScript.
      nonHeapMB: growth(
        pts((x) =>
          svc(x) && x?.metrics?.heapTotal !== undefined
            ? svc(x).rssAnonKb / 1024 - x.metrics.heapTotal / MB
            : undefined,
        ),
        warmupMin,
        windowSamples,
      ),
      fds: growth(
        pts((x) => svc(x)?.fds),
        warmupMin,
        windowSamples,
      ),
      cpuPct: round(
        avg(samples.filter((s) => s.min >= warmupMin).map((s) => s.services[name]?.proc?.cpuPct)),
        1,
      ),
      eventLoopLagMaxMs: lagMax.length
        ? { median: round(median(lagMax)), max: round(Math.max(...lagMax)) }
        : null,
      eventLoopLagP99Ms: lag.length
        ? {
            median: round(median(lag)),
            max: round(Math.max(...lag)),
            firstAfterWarmup: round(lag[0]),
            last: round(lag.at(-1)),
          }
        : null,
    };
  }
  const files = {};
  for (const key of Object.keys(samples[0]?.files ?? {})) {
    files[key] = growth(
      samples.map((s) => ({ min: s.min, v: (s.files?.[key] ?? 0) / MB })),
      warmupMin,
      windowSamples,
    );
  }
  const tick = latencyWindows(samples, run.latencyWindowMin ?? 5, 'tickToOrder');
  const inProcess = latencyWindows(samples, run.latencyWindowMin ?? 5, 'signalToOrder');
  const drift = (ws) => {
    const after = ws.filter((w) => w.from >= warmupMin && Number.isFinite(w.p99));
    const fit = linearFit(
      after.map((w) => w.to / 60),
      after.map((w) => w.p99),
    );
    return {
      windows: after.length,
      firstP99Ms: after[0]?.p99 ?? null,
      lastP99Ms: after.at(-1)?.p99 ?? null,
      maxP99Ms: after.length ? Math.max(...after.map((w) => w.p99)) : null,
      p99MsPerHourLinear: round(fit?.slope, 3),
      p99MsPerHourTheilSen: round(
        theilSen(
          after.map((w) => w.to / 60),
          after.map((w) => w.p99),
        ),
        3,
      ),
    };
  };
  const last = samples.at(-1);
  const first = samples.find((s) => s.min >= warmupMin) ?? samples[0];
  const rate = (f) => {
    const dt = (last?.min ?? 0) - (first?.min ?? 0);
    return dt > 0 ? round((f(last) - f(first)) / dt, 1) : null;
  };
  return {
    warmupMin,
    minutes: round(last?.min ?? 0, 1),
    samples: samples.length,
    processes,
    files,
    tickToOrder: { windows: tick, drift: drift(tick) },
    signalToOrder: { windows: inProcess, drift: drift(inProcess) },
    throughputPerMinuteAfterWarmup: {
      ordersSubmitted: rate((s) => s.services['order-manager']?.metrics?.ordersSubmitted ?? 0),
      ordersFilled: rate((s) => s.services['order-manager']?.metrics?.ordersFilled ?? 0),
      tradesPublished: rate((s) => s.services['data-capture']?.metrics?.feedLastSeq ?? 0),
      streamMessagesReceived: rate((s) =>
        Object.values(s.clients?.messages ?? {}).reduce((a, b) => a + b, 0),
      ),
    },
  };
}

const avg = (xs) => {
  const v = xs.filter(Number.isFinite);
  return v.length ? v.reduce((a, b) => a + b, 0) / v.length : null;
};
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

// --- chart -------------------------------------------------------------------------------------

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];

function niceStep(span, ticks) {
  const raw = span / ticks;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const f = raw / mag;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
}

/** One panel: line series over a shared minute axis, with grid, axis labels and a legend. */
function panel({ title, yLabel, series, xMax, width, height, warmupMin, yMin0 = true }) {
  const m = { l: 64, r: 190, t: 30, b: 40 };
  const w = width - m.l - m.r;
  const h = height - m.t - m.b;
  const ys = series.flatMap((s) => s.points.map((p) => p[1])).filter(Number.isFinite);
  let lo = yMin0 ? 0 : Math.min(...ys);
  let hi = Math.max(...ys, lo + 1);
  const yStep = niceStep(hi - lo, 6);
  lo = Math.floor(lo / yStep) * yStep;
  hi = Math.ceil(hi / yStep) * yStep;
  const xStep = niceStep(xMax, 10);
  const X = (x) => m.l + (x / xMax) * w;
  const Y = (y) => m.t + h - ((y - lo) / (hi - lo)) * h;
  const parts = [`<text x="${m.l}" y="18" font-size="14" font-weight="bold">${esc(title)}</text>`];
  for (let y = lo; y <= hi + 1e-9; y += yStep) {
    parts.push(
      `<line x1="${m.l}" x2="${m.l + w}" y1="${Y(y)}" y2="${Y(y)}" stroke="#ddd"/>`,
      `<text x="${m.l - 6}" y="${Y(y) + 4}" font-size="11" text-anchor="end">${+y.toFixed(3)}</text>`,
    );
  }
  for (let x = 0; x <= xMax + 1e-9; x += xStep) {
    parts.push(
      `<line x1="${X(x)}" x2="${X(x)}" y1="${m.t}" y2="${m.t + h}" stroke="#eee"/>`,
      `<text x="${X(x)}" y="${m.t + h + 16}" font-size="11" text-anchor="middle">${+x.toFixed(1)}</text>`,
    );
  }
  if (warmupMin > 0 && warmupMin < xMax) {
    parts.push(
      `<rect x="${m.l}" y="${m.t}" width="${X(warmupMin) - m.l}" height="${h}" fill="#000" opacity="0.04"/>`,
      `<text x="${X(warmupMin) - 4}" y="${m.t + 12}" font-size="10" text-anchor="end" fill="#666">warm-up</text>`,
    );
  }
  parts.push(
    `<rect x="${m.l}" y="${m.t}" width="${w}" height="${h}" fill="none" stroke="#888"/>`,
    `<text x="${m.l + w / 2}" y="${height - 6}" font-size="12" text-anchor="middle">minutes</text>`,
    `<text x="14" y="${m.t + h / 2}" font-size="12" text-anchor="middle" transform="rotate(-90 14 ${m.t + h / 2})">${esc(yLabel)}</text>`,
  );
  series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length];
    const pts = s.points.filter((p) => Number.isFinite(p[1]));
    if (pts.length) {
      parts.push(
        `<polyline fill="none" stroke="${color}" stroke-width="1.8" points="${pts.map(([x, y]) => `${X(x).toFixed(1)},${Y(y).toFixed(1)}`).join(' ')}"/>`,
      );
      if (s.markers) {
        for (const [x, y] of pts) parts.push(`<circle cx="${X(x)}" cy="${Y(y)}" r="2.5" fill="${color}"/>`);
      }
    }
    const ly = m.t + 14 + i * 18;
    parts.push(
      `<line x1="${m.l + w + 12}" x2="${m.l + w + 32}" y1="${ly - 4}" y2="${ly - 4}" stroke="${color}" stroke-width="3"/>`,
      `<text x="${m.l + w + 38}" y="${ly}" font-size="12">${esc(s.name)}</text>`,
    );
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif">${parts.join('')}</svg>`;
}

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;');

/** The chart page: RSS per process over time, then tick-to-order p99 per window. */
export function chartHtml(run, summary) {
  const { samples, warmupMin } = run;
  const xMax = Math.max(1, samples.at(-1)?.min ?? 1);
  const names = Object.keys(summary.processes);
  const rss = names.map((name) => {
    const g = summary.processes[name].rssMB;
    const label = g ? `${name} (${g.perHourMinima ?? '?'} MB/h)` : name;
    return {
      name: label,
      points: samples.map((s) => [
        s.min,
        s.services[name]?.proc ? s.services[name].proc.rssKb / 1024 : Number.NaN,
      ]),
    };
  });
  const lat = [
    {
      name: 'tick→order p99',
      markers: true,
      points: summary.tickToOrder.windows.map((w) => [w.to, w.p99]),
    },
    {
      name: 'in-process p99',
      markers: true,
      points: summary.signalToOrder.windows.map((w) => [w.to, w.p99]),
    },
  ];
  const width = 1100;
  const title = `Soak ${run.startedAt ?? ''}: ${run.config?.tradesPerSecond ?? '?'} trades/s per instrument, ${run.config?.streamClients ?? '?'} stream clients, ${summary.minutes} min (${run.machine ?? ''})`;
  return `<!doctype html><html><body style="margin:0;background:#fff">
<div style="font:13px sans-serif;padding:8px 12px">${esc(title)}</div>
${panel({ title: `RSS per process (MB); legend: growth after warm-up, fit of per-${run.config?.minimaMinutes ?? 5}-min minima`, yLabel: 'MB', series: rss, xMax, width, height: 430, warmupMin })}
${panel({ title: 'Tick-to-order p99 per 5 minutes (ms, histogram bucket bound)', yLabel: 'ms', series: lat, xMax, width, height: 260, warmupMin })}
</body></html>`;
}

/** Renders the chart page to a PNG with the Debian Chromium. */
export async function renderPng(html, file) {
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ headless: true, executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  try {
    const page = await browser.newPage({ viewport: { width: 1100, height: 740 } });
    await page.setContent(html, { waitUntil: 'load' });
    await page.screenshot({ path: file, fullPage: true });
  } finally {
    await browser.close();
  }
}

/** Markdown table of the growth per process (for BENCHMARKS.md). */
export function markdownTable(summary) {
  const rows = [
    '| process | RSS after warm-up (MB) | linear MB/h | minima MB/h | Theil–Sen MB/h | heap used MB/h (minima) | live heap MB/h (Theil–Sen) | outside heap MB/h (minima) | fds | event-loop p99 / max per minute (ms, medians) |',
    '|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const [name, p] of Object.entries(summary.processes)) {
    const g = p.rssMB;
    rows.push(
      `| ${name} | ${g ? `${g.first} → ${g.last}` : '–'} | ${g?.perHourLinear ?? '–'} | ${g?.perHourMinima ?? '–'} | ${g?.perHourTheilSen ?? '–'} | ${p.heapUsedMB?.perHourMinima ?? '–'} | ${p.heapLiveMB?.perHourTheilSen ?? '–'} | ${p.nonHeapMB?.perHourMinima ?? '–'} | ${p.fds ? `${p.fds.first} → ${p.fds.last}` : '–'} | ${p.eventLoopLagP99Ms ? `${p.eventLoopLagP99Ms.median} / ${p.eventLoopLagMaxMs?.median ?? '–'}` : 'n/a'} |`,
    );
  }
  return rows.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const file = process.argv[2];
  if (!file) {
    console.error('usage: node bench/soak-report.mjs <soak samples.json> [--warmup MIN]');
    process.exit(2);
  }
  const text = readFileSync(file, 'utf8');
  let run;
  if (file.endsWith('.jsonl')) {
    // An unfinished (or unformatted) run: the meta line, then one line per sample.
    const lines = text
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));
    run = { ...lines.find((l) => l.type === 'run'), samples: lines.filter((l) => l.type === 'sample') };
  } else run = JSON.parse(text);
  const w = process.argv.indexOf('--warmup');
  if (w > 0) run.warmupMin = Number(process.argv[w + 1]);
  const summary = summarize(run);
  run.summary = summary;
  const base = file.replace(/\.jsonl?$/, '');
  await renderPng(chartHtml(run, summary), `${base}.png`);
  console.log(markdownTable(summary));
  console.log(JSON.stringify(summary, null, 2));
  console.log(`wrote ${path.basename(base)}.png`);
}
