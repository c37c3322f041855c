"""liptako: an agent-based model of the armed conflict in the Liptako-Gourma tri-border."""

__version__ = "0.1.0"
