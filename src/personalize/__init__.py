"""personalize: real-time personalization and next-best-offer API for online stores."""

__version__ = "0.1.0"
