"""Takeover steps: ``base`` (the step protocol and context), ``registry`` (the step
types and ``build_steps``), and per step type a spec module (``<kind>_spec``: its
configuration keys, light enough for the configuration reader) and the step itself.

Imports nothing, so that the configuration reader can import the spec modules
without the steps.
"""
