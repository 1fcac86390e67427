"""Load: stream landed feed files into raw.<source>__<entity> with COPY."""
