"""What every provider's sandbox module shares: the in-memory state of tasks and faults, request
helpers, and the stand-in stems. The ``sandbox`` app serves them on loopback."""
