"""One declaration per pipeline, and the registry the rest of the app iterates."""
