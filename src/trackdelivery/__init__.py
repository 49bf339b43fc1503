"""trackdelivery: did my email arrive, and if not, why? Reads Exim and Postfix logs into searchable delivery events."""

__version__ = "0.1.0"
