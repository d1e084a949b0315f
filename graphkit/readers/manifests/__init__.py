"""Pure readers, one per manifest kind, each turning manifest bytes into Targets."""
