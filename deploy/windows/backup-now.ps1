<#
.SYNOPSIS
  An immediate backup, before a deployment or a configuration change (tradingsystem backup now).
.NOTES
  A thin wrapper over the TradingSystem CLI: its output and its exit code are the script's.
#>
. (Join-Path $PSScriptRoot 'common.ps1')
& $Node $Cli backup now
exit $LASTEXITCODE
