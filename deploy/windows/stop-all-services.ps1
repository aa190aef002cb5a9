<#
.SYNOPSIS
  Stops every service in reverse start order, gracefully, then the supervisor (tradingsystem stop).
.NOTES
  A thin wrapper over the TradingSystem CLI: its output and its exit code are the script's.
#>
. (Join-Path $PSScriptRoot 'common.ps1')
& $Node $Cli stop
exit $LASTEXITCODE
