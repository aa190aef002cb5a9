<#
.SYNOPSIS
  Goes back to the release before the current one, or to the one named (tradingsystem rollback).
.NOTES
  A thin wrapper over the TradingSystem CLI: its output and its exit code are the script's.
#>
param(
  # A release to go back to (see tradingsystem releases); by default the one before the current one.
  [string]$To = ''
)
. (Join-Path $PSScriptRoot 'common.ps1')
$extra = @()
if ($To) { $extra += @('--to', $To) }
& $Node $Cli rollback @extra
exit $LASTEXITCODE
