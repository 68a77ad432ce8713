"""One module per area of the CLI; each has ``register(app)`` and imports its heavy code lazily."""
