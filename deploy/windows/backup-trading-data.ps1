<#
.SYNOPSIS
  The daily backup (2:00 by the supervisor, or by the Task Scheduler task from `tradingsystem backup install-schedule --windows`): backs up the data home while everything runs, verifies it, applies the 30-day retention (tradingsystem backup now).
.NOTES
  A thin wrapper over the TradingSystem CLI: its output and its exit code are the script's.
#>
. (Join-Path $PSScriptRoot 'common.ps1')
& $Node $Cli backup now
exit $LASTEXITCODE
