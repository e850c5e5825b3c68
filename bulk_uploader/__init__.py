"""Send digital receipts in bulk to the RetailForce cloud."""

__version__ = "0.1.0"
