import { createHmac } from 'node:crypto';
import type { Config } from '../../kernel/config.js';
import { readSecret, type SecretRef } from '../../kernel/secrets.js';

export type Severity = 'critical' | 'warning';

/** One condition of the system worth a person's attention, e.g. `crash-loop:order-manager`. */
export interface NotifyEvent {
  /** Deduplication key: one condition, one key, for as long as it lasts. */
  key: string;
  severity: Severity;
  /** What kind of condition (`notify.events` selects kinds), e.g. `kill-switch`. */
  kind: string;
  /** One line for a person. */
  summary: string;
  details?: Record<string, unknown>;
  /** The service it is about, when it is about one. */
  service?: string;
}

/** What goes out: a condition starting (or still there, `repeat`) or clearing. */
export interface Notification {
  /** Identifies this notification across the tries of it (a receiver can drop a duplicate). */
  id: string;
  action: 'trigger' | 'resolve';
  event: NotifyEvent;
  /** Epoch ms when it was decided. */
  at: number;
  /** A reminder of a condition that is still active. */
  repeat: boolean;
  /** This installation, e.g. the host name. */
  source: string;
}

/** One HTTP request to make, and the secret values in it (scrubbed from anything logged). */
export interface ChannelRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
  secrets: string[];
}

export interface Channel {
  /** Logged and shown in status; never the URL, which may be the secret. */
  readonly name: string;
  readonly minSeverity?: Severity;
  /** Builds the request, reading its secret now (so a rotated file is used); throws when it cannot. */
  request(n: Notification): ChannelRequest;
}

const USER_AGENT = 'TradingSystem-supervisor';
const JSON_HEADERS = { 'content-type': 'application/json', 'user-agent': USER_AGENT };

const SLACK_COLORS = { critical: '#d40e0d', warning: '#e8a317', resolved: '#2eb886' } as const;

/** Slack incoming webhook: a message with a colored attachment; the webhook URL is the secret. */
export function slackChannel(ref: SecretRef, minSeverity?: Severity, env?: NodeJS.ProcessEnv): Channel {
  return {
    name: 'slack',
    ...(minSeverity && { minSeverity }),
    request(n) {
      const url = readSecret(ref, 'slack webhook URL', env);
      const { event } = n;
      const resolved = n.action === 'resolve';
      const label = resolved ? 'RESOLVED' : event.severity.toUpperCase();
      const icon = resolved
        ? ':white_check_mark:'
        : event.severity === 'critical'
          ? ':red_circle:'
          : ':warning:';
      const fields = [
        { title: 'Event', value: event.kind, short: true },
        ...(event.service ? [{ title: 'Service', value: event.service, short: true }] : []),
        { title: 'Source', value: n.source, short: true },
        { title: 'Key', value: event.key, short: true },
      ];
      const body = {
        text: `${icon} [${label}]${n.repeat ? ' (still active)' : ''} ${event.summary}`,
        attachments: [
          {
            color: resolved ? SLACK_COLORS.resolved : SLACK_COLORS[event.severity],
            fallback: `[${label}] ${event.summary}`,
            title: event.summary,
            ...(event.details &&
              !resolved && { text: `\`\`\`${JSON.stringify(event.details, null, 2).slice(0, 2_500)}\`\`\`` }),
            fields,
            footer: 'TradingSystem supervisor',
            ts: Math.floor(n.at / 1000),
          },
        ],
      };
      return { url, headers: { ...JSON_HEADERS }, body: JSON.stringify(body), secrets: [url] };
    },
  };
}

/** PagerDuty's limit on `payload.summary`. */
const PD_SUMMARY_MAX = 1024;

/** PagerDuty Events API v2: trigger and resolve by dedup_key; the routing key is the secret. */
export function pagerDutyChannel(
  ref: SecretRef,
  url: string,
  minSeverity?: Severity,
  env?: NodeJS.ProcessEnv,
): Channel {
  return {
    name: 'pagerduty',
    ...(minSeverity && { minSeverity }),
    request(n) {
      const routingKey = readSecret(ref, 'pagerduty routing key', env);
      const { event } = n;
      const body =
        n.action === 'resolve'
          ? { routing_key: routingKey, event_action: 'resolve', dedup_key: event.key }
          : {
              routing_key: routingKey,
              event_action: 'trigger',
              dedup_key: event.key,
              client: 'TradingSystem supervisor',
              payload: {
                summary: event.summary.slice(0, PD_SUMMARY_MAX),
                source: n.source,
                severity: event.severity,
                timestamp: new Date(n.at).toISOString(),
                component: event.service ?? 'supervisor',
                group: 'tradingsystem',
                class: event.kind,
                custom_details: { ...event.details, key: event.key, ...(n.repeat && { repeat: true }) },
              },
            };
      return { url, headers: { ...JSON_HEADERS }, body: JSON.stringify(body), secrets: [routingKey] };
    },
  };
}

export const SIGNATURE_HEADER = 'x-tradingsystem-signature';

/** `sha256=<hex>` of the body under the secret, as the generic webhook's receiver checks it. */
export function signBody(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/**
 * Any HTTP endpoint: the notification as JSON. With a secret, `x-tradingsystem-signature` is the
 * HMAC-SHA256 of the raw body, so the receiver knows it came from us and was not altered.
 */
export function webhookChannel(
  url: string,
  ref: SecretRef | null,
  minSeverity?: Severity,
  env?: NodeJS.ProcessEnv,
): Channel {
  return {
    name: 'webhook',
    ...(minSeverity && { minSeverity }),
    request(n) {
      const secret = ref ? readSecret(ref, 'webhook secret', env) : null;
      const { event } = n;
      const body = JSON.stringify({
        id: n.id,
        action: n.action,
        key: event.key,
        kind: event.kind,
        severity: event.severity,
        summary: event.summary,
        ...(event.service && { service: event.service }),
        details: event.details ?? {},
        at: new Date(n.at).toISOString(),
        source: n.source,
        repeat: n.repeat,
      });
      const headers: Record<string, string> = {
        ...JSON_HEADERS,
        'x-tradingsystem-event': n.action,
        'x-tradingsystem-delivery': n.id,
      };
      if (secret) headers[SIGNATURE_HEADER] = signBody(secret, body);
      return { url, headers, body, secrets: secret ? [secret] : [] };
    },
  };
}

/** The channels `notify.channels` configures; none: nothing is ever sent. */
export function channelsFrom(notify: Config['notify'], env: NodeJS.ProcessEnv = process.env): Channel[] {
  const { slack, pagerduty, webhook } = notify.channels;
  const out: Channel[] = [];
  if (slack) out.push(slackChannel({ file: slack.urlFile, env: slack.urlEnv }, slack.minSeverity, env));
  if (pagerduty)
    out.push(
      pagerDutyChannel(
        { file: pagerduty.routingKeyFile, env: pagerduty.routingKeyEnv },
        pagerduty.url,
        pagerduty.minSeverity,
        env,
      ),
    );
  if (webhook) {
    const ref =
      webhook.secretFile || webhook.secretEnv ? { file: webhook.secretFile, env: webhook.secretEnv } : null;
    out.push(webhookChannel(webhook.url, ref, webhook.minSeverity, env));
  }
  return out;
}
