"""The OCF resource agent ``ocf:twinstar:astribank``: Pacemaker decides, twinstar moves the units.

``codes`` (the OCF exit codes and a verdict), ``decide`` (pure decisions from
what was read), ``metadata`` (the agent's meta-data), ``agent`` (the actions,
their edges injected). The command line is ``twinstar ocf ACTION``
(:mod:`twinstar.cli.ocf`); the installed agent (``ocf/astribank``) only calls it.
"""
