<#
.SYNOPSIS
  Starts the supervisor and every TradingSystem service in the background, each gated on its health (tradingsystem start --detach).
.NOTES
  A thin wrapper over the TradingSystem CLI: its output and its exit code are the script's.
#>
. (Join-Path $PSScriptRoot 'common.ps1')
& $Node $Cli start --detach
exit $LASTEXITCODE
