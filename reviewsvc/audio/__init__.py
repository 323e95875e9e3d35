"""Audio uploads: recognise the format by magic bytes and a parse, and read the duration."""
