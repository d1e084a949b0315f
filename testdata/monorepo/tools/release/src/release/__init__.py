"""Release tooling."""
