<#
.SYNOPSIS
  Free space of the data home against the warning (15%) and critical (5%) levels (tradingsystem check-disk).
.NOTES
  A thin wrapper over the TradingSystem CLI: its output and its exit code are the script's.
#>
param([switch]$Json)
. (Join-Path $PSScriptRoot 'common.ps1')
$extra = @()
if ($Json) { $extra += '--json' }
& $Node $Cli check-disk @extra
exit $LASTEXITCODE
