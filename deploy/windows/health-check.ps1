<#
.SYNOPSIS
  The comprehensive health check: every service, the broker session, disk, last good backup, clock, gaps, reconciliation (tradingsystem health-check); exit code non-zero when anything is wrong.
.NOTES
  A thin wrapper over the TradingSystem CLI: its output and its exit code are the script's.
#>
param([switch]$Json)
. (Join-Path $PSScriptRoot 'common.ps1')
$extra = @()
if ($Json) { $extra += '--json' }
& $Node $Cli health-check @extra
exit $LASTEXITCODE
