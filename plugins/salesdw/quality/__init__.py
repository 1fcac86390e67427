"""Quality: Great Expectations suites (code, in version control) and their results."""
