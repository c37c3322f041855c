"""Further ``liptako`` subcommands.

Every module here defines ``register(subparsers)``, which adds its subcommand(s)
with ``set_defaults(func=...)``; :mod:`sim.cli` discovers the modules in name
order. A handler returns the exit status and raises
:class:`sim.scenario_io.ScenarioError` (exit status 2) for bad input.
"""
