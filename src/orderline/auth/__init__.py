"""Authentication: bearer tokens (JWT) to principals, the dev signing key, request rate limits."""
