<#
.SYNOPSIS
  Restores the backup of a date: verifies it, stops the services, keeps the current data aside, restores, starts, waits for health (tradingsystem restore --date).
.NOTES
  A thin wrapper over the TradingSystem CLI: its output and its exit code are the script's.
#>
param(
  # The backup to restore: YYYY-MM-DD, or YYYY-MM-DD-N for a later one of that day (see backup list).
  [Parameter(Mandatory = $true)][string]$Date,
  # Checks and says what it would do, changes nothing.
  [switch]$DryRun
)
. (Join-Path $PSScriptRoot 'common.ps1')
$extra = @()
if ($DryRun) { $extra += '--dry-run' }
& $Node $Cli restore --date $Date @extra
exit $LASTEXITCODE
