"""Services: use cases that combine core objects and adapters (build, tracking, review, ...)."""
