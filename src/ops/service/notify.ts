import { execFile } from 'node:child_process';

/**
 * Tells systemd about the supervisor (sd_notify) through the `systemd-notify` program, which Node
 * cannot do by itself (the notify socket is a Unix datagram socket). systemd-notify waits until
 * systemd has taken each message (so the sender is known even though it exits at once), and the
 * unit sets `NotifyAccess=all` because the sender is our child, not the supervisor itself.
 */
export class SystemdNotifier {
  private failures = 0;

  constructor(
    private readonly say: (line: string) => void,
    private readonly program = 'systemd-notify',
  ) {}

  /** READY=1 with a status line; false when systemd could not be told. */
  ready(status: string): Promise<boolean> {
    return this.send(['--ready', `--status=${status}`]);
  }

  /** The watchdog keep-alive, with a status line for `systemctl status`. */
  watchdog(status: string): Promise<boolean> {
    return this.send(['WATCHDOG=1', `STATUS=${status}`]);
  }

  stopping(): Promise<boolean> {
    return this.send(['STOPPING=1', 'STATUS=stopping the services']);
  }

  private send(args: string[]): Promise<boolean> {
    return new Promise((resolve) => {
      execFile(this.program, args, { timeout: 10_000 }, (err, _stdout, stderr) => {
        if (!err) {
          this.failures = 0;
          resolve(true);
          return;
        }
        this.failures += 1;
        // Said once per run of failures, not at every ping.
        if (this.failures === 1) {
          this.say(`systemd-notify ${args[0]} failed: ${(stderr || err.message).trim()}`);
        }
        resolve(false);
      });
    });
  }
}
