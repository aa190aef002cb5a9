<#
.SYNOPSIS
  Development machines: starts TradingSystem at logon of the current user, through a Task Scheduler task that runs `tradingsystem start --detach`. Production machines use -Service: the Windows service TradingSystem through WinSW, started at boot and restarted on failure (tradingsystem service install).
.NOTES
  A thin wrapper over the TradingSystem CLI: its output and its exit code are the script's.
#>
param(
  # Register the Windows service (WinSW) instead of the logon task.
  [switch]$Service,
  # Remove the logon task.
  [switch]$Unregister
)
. (Join-Path $PSScriptRoot 'common.ps1')
$TaskName = 'TradingSystem dev startup'
if ($Service) {
  & $Node $Cli service install
  exit $LASTEXITCODE
}
if ($Unregister) {
  & schtasks.exe /Delete /TN $TaskName /F
  exit $LASTEXITCODE
}
# From the install root, so the config and the data home are found as by the scripts here.
$action = 'cmd.exe /c cd /d "{0}" && "{1}" "{2}" start --detach' -f (Get-Location).Path, $Node, $Cli
& schtasks.exe /Create /TN $TaskName /SC ONLOGON /RL LIMITED /F /TR $action
exit $LASTEXITCODE
