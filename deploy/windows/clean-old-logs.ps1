<#
.SYNOPSIS
  Removes log files older than log.retentionDays (30), never today's (tradingsystem clean-logs).
.NOTES
  A thin wrapper over the TradingSystem CLI: its output and its exit code are the script's.
#>
param(
  # Another age limit than the config's, in days.
  [int]$Days = 0,
  [switch]$DryRun
)
. (Join-Path $PSScriptRoot 'common.ps1')
$extra = @()
if ($Days -gt 0) { $extra += @('--days', "$Days") }
if ($DryRun) { $extra += '--dry-run' }
& $Node $Cli clean-logs @extra
exit $LASTEXITCODE
