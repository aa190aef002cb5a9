# Dot-sourced by every script in this folder: where TradingSystem is and how to run its CLI.
# The install root (default C:\TradingSystem; $env:TRADINGSYSTEM_ROOT overrides it) holds
# tradingsystem.config.json, releases\ and data\, as the handbook's Windows layout has it.
Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'

$Root = if ($env:TRADINGSYSTEM_ROOT) { $env:TRADINGSYSTEM_ROOT } else { 'C:\TradingSystem' }
$Node = (Get-Command node.exe -ErrorAction SilentlyContinue | Select-Object -First 1).Source
if (-not $Node) { throw 'node.exe is not on the PATH: install Node.js 20 first' }

# The current release's CLI once a release is deployed (`tradingsystem deploy` writes this
# launcher); before that, the CLI of the built checkout these scripts sit in.
$Cli = Join-Path $Root 'releases\tradingsystem.mjs'
if (-not (Test-Path $Cli)) { $Cli = Join-Path $PSScriptRoot '..\..\dist\cli.js' }
if (-not (Test-Path $Cli)) {
  throw "no TradingSystem CLI at ${Cli}: deploy a release, or build the checkout (npm ci; npm run build)"
}

# Relative paths in the config (the data home, releases) start at the install root, as they do
# for the Windows service.
if (Test-Path $Root) { Set-Location $Root }
