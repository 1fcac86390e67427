"""Extract: bring each source's feed for a day into the landing folder and list it."""
