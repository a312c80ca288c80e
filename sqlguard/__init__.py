"""sqlguard: guards databases against the mistakes that migrations and hand-written SQL make."""

__version__ = "0.1.0"
