// YAML trees, their loader and diagnostics live in the small DTEYAML target (the agent reads its
// config files with the same loader); everything that reads templates sees them through DTEModel.
@_exported import DTEYAML
