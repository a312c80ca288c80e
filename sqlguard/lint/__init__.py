"""The lint: rules' interface, the engine that runs them, and the result cache."""
