import { ProbeRecorder } from '../../adapters/storage/probe-store.js';
import type { Config } from '../../kernel/config.js';
import type { Logger } from '../../kernel/logger.js';
import type { ProbeResult, ProcessStatus, Supervisor } from '../supervisor/supervisor.js';

/**
 * Hooks the durable probe records onto a supervisor: every probe, every state change, and a look
 * at every service each health interval (a service in backoff or failed gets no probe). Returns
 * the stop, which writes what is pending.
 */
export function recordProbes(supervisor: Supervisor, config: Config, logger: Logger): () => void {
  const recorder = new ProbeRecorder({
    home: config.home,
    timeZone: config.timezone,
    flushIntervalMs: config.slo.flushIntervalMs,
    retentionDays: config.slo.retentionDays,
    logger,
  });
  const onProbe = (p: ProbeResult) => recorder.onProbe(p);
  const onChange = (rows: ProcessStatus[]) => recorder.onStatus(rows);
  supervisor.on('probe', onProbe);
  supervisor.on('change', onChange);
  const look = setInterval(() => recorder.onStatus(supervisor.status()), config.supervisor.healthIntervalMs);
  look.unref();
  recorder.start();
  return () => {
    clearInterval(look);
    supervisor.off('probe', onProbe);
    supervisor.off('change', onChange);
    recorder.stop();
  };
}
