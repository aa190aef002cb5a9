<#
.SYNOPSIS
  What the supervisor runs: every service with its pid, port, state, restarts and uptime (tradingsystem status); exit 3 when it is not running.
.NOTES
  A thin wrapper over the TradingSystem CLI: its output and its exit code are the script's.
#>
param([switch]$Json)
. (Join-Path $PSScriptRoot 'common.ps1')
$extra = @()
if ($Json) { $extra += '--json' }
& $Node $Cli status @extra
exit $LASTEXITCODE
