<#
.SYNOPSIS
  Restarts every service one after another, each waited on until healthy (tradingsystem restart); exit 1 when one is not.
.NOTES
  A thin wrapper over the TradingSystem CLI: its output and its exit code are the script's.
#>
. (Join-Path $PSScriptRoot 'common.ps1')
& $Node $Cli restart
exit $LASTEXITCODE
