"""One module per engine; engine differences live inside their own file."""
