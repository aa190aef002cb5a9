<#
.SYNOPSIS
  The broker (ProfitDLL) session: its state, recent transitions, retries and the last trade per subscription (tradingsystem check-connection).
.NOTES
  A thin wrapper over the TradingSystem CLI: its output and its exit code are the script's.
#>
param([switch]$Json)
. (Join-Path $PSScriptRoot 'common.ps1')
$extra = @()
if ($Json) { $extra += '--json' }
& $Node $Cli check-connection @extra
exit $LASTEXITCODE
