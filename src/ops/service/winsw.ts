import type { ServiceLayout } from './layout.js';

/**
 * The WinSW configuration of the supervisor as a Windows service (WinSW 2.x and 3.x read it):
 * automatic start at boot, restarted by the Service Control Manager when it exits with an error,
 * Ctrl+C on stop (the supervisor stops the services in order) and the stop timeout after that.
 * WinSW itself is `<id>.exe` beside this file (the handbook says where to get it).
 */
export function winswXml(l: ServiceLayout): string {
  const env = [
    ['TRADINGSYSTEM_HOME', l.home],
    ...(l.configFile ? [['TRADINGSYSTEM_CONFIG', l.configFile]] : []),
  ] as [string, string][];
  return [
    '<!--',
    '  The TradingSystem supervisor as a Windows service, through WinSW: put WinSW-x64.exe beside this',
    `  file as ${l.name}.exe, then \`tradingsystem service install\` (or \`${l.name}.exe install\`).`,
    '  Generated from the config by `tradingsystem service install`: change the config, not this file.',
    '-->',
    '<service>',
    `  <id>${xml(l.name)}</id>`,
    `  <name>${xml(l.name)}</name>`,
    '  <description>TradingSystem supervisor: starts, health-gates and restarts the B3 trading services.</description>',
    `  <executable>${xml(l.node)}</executable>`,
    `  <argument>${xml(l.script)}</argument>`,
    '  <argument>service</argument>',
    '  <argument>run</argument>',
    `  <workingdirectory>${xml(l.workingDir)}</workingdirectory>`,
    ...env.map(([k, v]) => `  <env name="${xml(k)}" value="${xml(v)}"/>`),
    '  <startmode>Automatic</startmode>',
    '  <onfailure action="restart" delay="5 sec"/>',
    '  <onfailure action="restart" delay="30 sec"/>',
    '  <onfailure action="restart" delay="60 sec"/>',
    '  <resetfailure>1 hour</resetfailure>',
    `  <stoptimeout>${l.stopTimeoutSec} sec</stoptimeout>`,
    `  <logpath>${xml(joinWin(l.home, 'logs', 'service'))}</logpath>`,
    '  <log mode="roll-by-size">',
    '    <sizeThreshold>10240</sizeThreshold>',
    '    <keepFiles>8</keepFiles>',
    '  </log>',
    '</service>',
    '',
  ].join('\r\n');
}

function xml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Windows paths are joined with `\` whatever OS generates them (the template is made on Linux). */
function joinWin(...parts: string[]): string {
  return parts
    .map((p, i) => (i === 0 ? p.replace(/[\\/]+$/, '') : p.replace(/^[\\/]+|[\\/]+$/g, '')))
    .join('\\');
}
