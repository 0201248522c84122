"""What the polls platform's Django services share besides events."""

__version__ = "0.3.2"
