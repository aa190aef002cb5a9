<#
.SYNOPSIS
  Deploys a release (a tarball from `tradingsystem release pack`, or a folder): installs it under releases\, restarts the services on it one at a time and rolls back by itself when one fails health (tradingsystem deploy).
.NOTES
  A thin wrapper over the TradingSystem CLI: its output and its exit code are the script's.
#>
param(
  # The release: tradingsystem-<version>-win32-x64.tgz, or an unpacked release or built checkout folder.
  [Parameter(Mandatory = $true)][string]$Release
)
# Resolved before common.ps1 moves to the install root.
$Release = (Resolve-Path -LiteralPath $Release).Path
. (Join-Path $PSScriptRoot 'common.ps1')
& $Node $Cli deploy $Release
exit $LASTEXITCODE
