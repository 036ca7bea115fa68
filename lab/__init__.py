"""Voice Lab engines: audio I/O, the model registry, TTS, cloning and conversion."""
