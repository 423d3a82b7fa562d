"""TwinStar USB control: MPP frames, the pyusb transport, the operations, and a simulator.

Nothing is imported here, so ``import twinstar.usb.watchdog`` stays cheap for the
hook path. Modules:

- :mod:`~twinstar.usb.xtalk` XTALK frames and ACK status codes (pure)
- :mod:`~twinstar.usb.mpp` TwinStar operations and capability decoding
- :mod:`~twinstar.usb.transport` pyusb: find units, claim, serialise, map errors
- :mod:`~twinstar.usb.units` status/ports/watchdog/jump on each unit
- :mod:`~twinstar.usb.watchdog` the hook's watchdog re-arm
- :mod:`~twinstar.usb.sim` the simulated Astribank's state file
- :mod:`~twinstar.usb.simbackend` the simulated Astribank (a pyusb backend)
"""
