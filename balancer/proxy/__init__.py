"""The API proxy: client-facing routes, auth, the attempt loop and the relay."""
