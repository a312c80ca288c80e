"""The one Schema model, the replay that builds it from statements, and what comes of it."""
