import { execFile } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configEnv, freePort, type JsonBody, ROOT, runCli, tempHome } from './helpers/cli.js';

/**
 * Start at boot: the systemd unit `service install` writes (checked by the real
 * `systemd-analyze verify`, never enabled on this machine), the WinSW XML (parsed by a real XML
 * parser), the committed templates, and the Windows PowerShell wrappers of the ops summary.
 */

function run(program: string, args: string[], opts: { input?: string } = {}) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    const child = execFile(program, args, { timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** `systemd-analyze verify` of a unit file: what it says about it (nothing when it is right). */
async function verifyUnit(file: string): Promise<{ code: number; problems: string }> {
  const r = await run('systemd-analyze', ['verify', file]);
  return { code: r.code, problems: `${r.stdout}${r.stderr}`.trim() };
}

/** The XML parsed by Python's expat-based ElementTree, returned as JSON: a real parser, not a regex. */
async function parseWinsw(xml: string): Promise<JsonBody> {
  const script = [
    'import json, sys, xml.etree.ElementTree as ET',
    'root = ET.fromstring(sys.stdin.buffer.read())',
    'print(json.dumps({',
    '  "root": root.tag,',
    '  "id": root.findtext("id"), "name": root.findtext("name"),',
    '  "executable": root.findtext("executable"),',
    '  "arguments": [a.text for a in root.findall("argument")],',
    '  "workingdirectory": root.findtext("workingdirectory"),',
    '  "startmode": root.findtext("startmode"),',
    '  "onfailure": [f.attrib for f in root.findall("onfailure")],',
    '  "env": {e.get("name"): e.get("value") for e in root.findall("env")},',
    '  "stoptimeout": root.findtext("stoptimeout"),',
    '}))',
  ].join('\n');
  const r = await run('python3', ['-c', script], { input: xml });
  if (r.code !== 0) throw new Error(`not well-formed XML: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

let home: string;
let unitDir: string;
let releasesDir: string;
let scratch: string;
let env: NodeJS.ProcessEnv;
const unitName = `ts-test-${process.pid}`;
const cli = (...args: string[]) => runCli(args, env, 120_000);

beforeAll(async () => {
  home = tempHome('ts-service-home-');
  unitDir = tempHome('ts-service-units-');
  releasesDir = tempHome('ts-service-releases-');
  scratch = tempHome('ts-service-scratch-');
  env = configEnv(home, {
    services: { 'data-capture': { port: await freePort() } },
    service: { unitDir, name: unitName, watchdogSec: 45 },
    deploy: { dir: releasesDir },
  });
  // The check below is only worth something if the program is there.
  expect((await run('systemd-analyze', ['--version'])).code, 'systemd-analyze (Debian package systemd)').toBe(
    0,
  );
});

afterAll(() => {
  for (const dir of [home, unitDir, releasesDir, scratch])
    if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('service install | status | uninstall (systemd)', () => {
  const unitFile = () => path.join(unitDir, `${unitName}.service`);

  it('writes a unit that systemd-analyze verify accepts, for this checkout and then for the current release', async () => {
    const install = await cli('service', 'install', '--no-enable');
    expect(install.code, install.stderr + install.stdout).toBe(0);
    expect(install.stdout).toContain(`wrote ${unitFile()}`);
    expect(install.stdout).toContain('not enabled (--no-enable)');
    const unit = readFileSync(unitFile(), 'utf8');
    expect(unit).toContain(
      `ExecStart=${process.execPath} ${path.join(ROOT, 'dist', 'cli.js')} service run\n`,
    );
    expect(unit).toContain(`Environment=TRADINGSYSTEM_HOME=${home}\n`);
    expect(unit).toContain(`Environment=TRADINGSYSTEM_CONFIG=${env.TRADINGSYSTEM_CONFIG}\n`);
    for (const line of [
      'Type=notify',
      'NotifyAccess=all',
      'Restart=on-failure',
      'WatchdogSec=45s',
      'KillMode=mixed',
      'WantedBy=multi-user.target',
    ]) {
      expect(unit).toContain(`\n${line}\n`);
    }
    expect(await verifyUnit(unitFile())).toEqual({ code: 0, problems: '' });

    // Once a release is current, the unit runs the releases launcher, so it follows deploys.
    const release = path.join(scratch, '0.2.0-boot');
    mkdirSync(release);
    cpSync(path.join(ROOT, 'dist'), path.join(release, 'dist'), { recursive: true });
    for (const f of ['package.json', 'package-lock.json']) cpSync(path.join(ROOT, f), path.join(release, f));
    symlinkSync(path.join(ROOT, 'node_modules'), path.join(release, 'node_modules'));
    writeFileSync(
      path.join(release, 'release.json'),
      JSON.stringify({
        name: 'tradingsystem',
        version: '0.2.0-boot',
        packageVersion: '0.1.0',
        commit: null,
        dirty: true,
        builtAt: new Date().toISOString(),
        platform: process.platform,
        arch: process.arch,
        nodeAbi: process.versions.modules,
        node: process.version,
        entries: ['package.json', 'package-lock.json', 'dist', 'node_modules'],
      }),
    );
    const deploy = await cli('deploy', release);
    expect(deploy.code, deploy.stderr + deploy.stdout).toBe(0);
    expect(deploy.stdout).toContain('the supervisor is not running');
    const again = await cli('service', 'install', '--no-enable');
    expect(again.code, again.stderr).toBe(0);
    const launcher = path.join(releasesDir, 'tradingsystem.mjs');
    expect(readFileSync(unitFile(), 'utf8')).toContain(
      `ExecStart=${process.execPath} ${launcher} service run\n`,
    );
    expect(await verifyUnit(unitFile())).toEqual({ code: 0, problems: '' });
    // What the unit starts runs the current release's CLI.
    const info = await run(process.execPath, [launcher, 'release', 'info', '--json']);
    expect(info.code, info.stderr).toBe(0);
    expect(JSON.parse(info.stdout)).toMatchObject({
      version: '0.2.0-boot',
      packed: true,
      dir: `${path.join(releasesDir, '0.2.0-boot')}${path.sep}`,
    });
  }, 60_000);

  it('verify is a real check: it reports a broken unit', async () => {
    const broken = path.join(unitDir, 'broken.service');
    writeFileSync(
      broken,
      readFileSync(unitFile(), 'utf8')
        .replace('Type=notify', 'Type=notifyy')
        .replace(process.execPath, '/nonexistent/node'),
    );
    const v = await verifyUnit(broken);
    expect(v.problems).toContain('Failed to parse service type');
    expect(v.problems).toContain('/nonexistent/node');
    rmSync(broken);
  });

  it('status says installed; uninstall removes the unit; bad input exits 2', async () => {
    const status = await cli('service', 'status', '--json');
    expect(status.code, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({
      manager: 'systemd',
      name: unitName,
      definition: unitFile(),
      installed: true,
      supervisor: null,
    });
    const un = await cli('service', 'uninstall');
    expect(un.code, un.stderr).toBe(0);
    expect(existsSync(unitFile())).toBe(false);
    const after = await cli('service', 'status');
    expect(after.code).toBe(3);
    expect(after.stdout).toContain('not installed');
    for (const [args, message] of [
      [['service'], /service needs an action/],
      [['service', 'enable'], /unknown service action 'enable'/],
      [['service', 'install', '--now'], /--now/],
    ] as const) {
      const r = await cli(...args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).toContain('usage: tradingsystem service');
    }
  }, 60_000);
});

describe('the Windows service (WinSW)', () => {
  it('`service unit --windows` is well-formed WinSW XML: TradingSystem, node with the CLI, restart on failure', async () => {
    const winEnv = configEnv(home, { service: { unitDir }, deploy: { dir: path.join(scratch, 'none') } });
    const r = await runCli(['service', 'unit', '--windows'], winEnv);
    expect(r.code, r.stderr).toBe(0);
    const x = await parseWinsw(r.stdout);
    expect(x).toMatchObject({
      root: 'service',
      id: 'TradingSystem',
      name: 'TradingSystem',
      executable: process.execPath,
      arguments: [path.join(ROOT, 'dist', 'cli.js'), 'service', 'run'],
      startmode: 'Automatic',
      env: { TRADINGSYSTEM_HOME: home, TRADINGSYSTEM_CONFIG: winEnv.TRADINGSYSTEM_CONFIG },
    });
    expect(x.onfailure.length).toBeGreaterThan(0);
    for (const f of x.onfailure) expect(f.action).toBe('restart');
  });

  it('a value that needs escaping stays well-formed', async () => {
    const odd = tempHome('ts-service-a&b<c>"d"-');
    try {
      const r = await runCli(['service', 'unit', '--windows'], configEnv(odd, {}));
      expect(r.code, r.stderr).toBe(0);
      expect((await parseWinsw(r.stdout)).env.TRADINGSYSTEM_HOME).toBe(odd);
    } finally {
      rmSync(odd, { recursive: true, force: true });
    }
  });
});

describe('the templates in deploy/', () => {
  // With the default config: no config file, a working directory without one.
  const template = (args: string[]) =>
    new Promise<string>((resolve, reject) => {
      const cwd = tempHome('ts-template-');
      const e: NodeJS.ProcessEnv = { ...process.env };
      delete e.TRADINGSYSTEM_CONFIG;
      delete e.TRADINGSYSTEM_HOME;
      execFile(
        process.execPath,
        [path.join(ROOT, 'dist', 'cli.js'), ...args],
        { cwd, env: e },
        (err, stdout, stderr) => {
          rmSync(cwd, { recursive: true, force: true });
          if (err) reject(new Error(stderr));
          else resolve(stdout);
        },
      );
    });

  it('deploy/systemd/tradingsystem.service is what `service unit --template` writes, and verifies', async () => {
    const file = path.join(ROOT, 'deploy', 'systemd', 'tradingsystem.service');
    expect(readFileSync(file, 'utf8')).toBe(await template(['service', 'unit', '--template']));
    const v = await verifyUnit(file);
    // The template's script lives on a production machine, not here; node is checked by verify.
    expect(v).toEqual({ code: 0, problems: '' });
  });

  it('deploy/windows/TradingSystem.xml is what `service unit --windows --template` writes, and parses', async () => {
    const file = path.join(ROOT, 'deploy', 'windows', 'TradingSystem.xml');
    const text = readFileSync(file, 'utf8');
    expect(text).toBe(await template(['service', 'unit', '--windows', '--template']));
    expect(await parseWinsw(text)).toMatchObject({
      id: 'TradingSystem',
      executable: 'C:\\Program Files\\nodejs\\node.exe',
      arguments: ['C:\\TradingSystem\\releases\\tradingsystem.mjs', 'service', 'run'],
      workingdirectory: 'C:\\TradingSystem',
    });
  });
});

describe('deploy/windows PowerShell scripts', () => {
  // Each script of the ops summary, by its name, and the CLI command it must run.
  const SCRIPTS: Record<string, RegExp> = {
    'start-all-services.ps1': /^& \$Node \$Cli start --detach$/m,
    'stop-all-services.ps1': /^& \$Node \$Cli stop$/m,
    'restart-all-services.ps1': /^& \$Node \$Cli restart$/m,
    'backup-trading-data.ps1': /^& \$Node \$Cli backup now$/m,
    'backup-now.ps1': /^& \$Node \$Cli backup now$/m,
    'restore-from-backup.ps1': /^& \$Node \$Cli restore --date \$Date @extra$/m,
    'health-check.ps1': /^& \$Node \$Cli health-check @extra$/m,
    'check-service-status.ps1': /^& \$Node \$Cli status @extra$/m,
    'check-profitdll-connection.ps1': /^& \$Node \$Cli check-connection @extra$/m,
    'check-disk-space.ps1': /^& \$Node \$Cli check-disk @extra$/m,
    'clean-old-logs.ps1': /^& \$Node \$Cli clean-logs @extra$/m,
    'deploy-core-services.ps1': /^& \$Node \$Cli deploy \$Release$/m,
    'rollback-deployment.ps1': /^& \$Node \$Cli rollback @extra$/m,
    'register-trading-system-dev-startup.ps1': /^ {2}& \$Node \$Cli service install$/m,
  };
  const dir = path.join(ROOT, 'deploy', 'windows');

  it('every script exists, runs its CLI command and passes the exit code through', () => {
    for (const [name, command] of Object.entries(SCRIPTS)) {
      const file = path.join(dir, name);
      expect(existsSync(file), name).toBe(true);
      const text = readFileSync(file, 'utf8');
      expect(text, name).toMatch(/^\. \(Join-Path \$PSScriptRoot 'common\.ps1'\)$/m);
      expect(text, name).toMatch(command);
      // The native command's exit code is the script's, right after the call.
      const lines = text.trimEnd().split('\n');
      const call = lines.findIndex((l) => command.test(l));
      expect(lines[call + 1]?.trim(), name).toBe('exit $LASTEXITCODE');
      expect(lines.at(-1), name).toBe('exit $LASTEXITCODE');
    }
  });

  it('the scripts take the parameters the ops summary names', () => {
    const text = (n: string) => readFileSync(path.join(dir, n), 'utf8');
    expect(text('restore-from-backup.ps1')).toMatch(/\[Parameter\(Mandatory = \$true\)\]\[string\]\$Date/);
    expect(text('restore-from-backup.ps1')).toContain("if ($DryRun) { $extra += '--dry-run' }");
    expect(text('deploy-core-services.ps1')).toMatch(
      /\[Parameter\(Mandatory = \$true\)\]\[string\]\$Release/,
    );
    expect(text('rollback-deployment.ps1')).toContain("if ($To) { $extra += @('--to', $To) }");
    expect(text('clean-old-logs.ps1')).toContain('if ($Days -gt 0) { $extra += @(\'--days\', "$Days") }');
    // The logon task starts the system with the CLI too.
    expect(text('register-trading-system-dev-startup.ps1')).toMatch(/"\{1\}" "\{2\}" start --detach' -f/);
    // common.ps1 runs the current release through the launcher `deploy` writes.
    const common = text('common.ps1');
    expect(common).toContain("Join-Path $Root 'releases\\tradingsystem.mjs'");
    expect(common).toContain("Join-Path $PSScriptRoot '..\\..\\dist\\cli.js'");
  });
});

describe('the handbook pages', () => {
  it('deployment and start-at-boot pages have valid frontmatter and name what the code does', async () => {
    const { parsePage } = await import('../src/services/docs/frontmatter.js');
    const page = (name: string) => {
      const parsed = parsePage(readFileSync(path.join(ROOT, 'docs', 'ops', name), 'utf8'));
      expect(parsed.ok, name).toBe(true);
      if (!parsed.ok) throw new Error(parsed.errors.join('; '));
      expect(parsed.frontmatter.status).toBe('active');
      return parsed.body;
    };
    const deployPage = page('deployment-and-rollback.md');
    for (const s of [
      'tradingsystem deploy',
      'tradingsystem rollback',
      'tradingsystem releases',
      'release pack',
    ])
      expect(deployPage).toContain(s);
    const bootPage = page('start-at-boot.md');
    for (const s of [
      'service install',
      'service uninstall',
      'service status',
      'systemd-analyze verify',
      'WinSW',
    ])
      expect(bootPage).toContain(s);
    for (const name of readdirSync(path.join(ROOT, 'deploy', 'windows')).filter((n) => n.endsWith('.ps1'))) {
      if (name !== 'common.ps1') expect(bootPage, name).toContain(`\`${name}`);
    }
  });
});
