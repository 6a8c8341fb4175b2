"""melab."""
