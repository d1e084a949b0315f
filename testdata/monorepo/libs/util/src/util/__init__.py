"""Small, dependency-free helpers shared across the monorepo."""
