"""A local simulation of the CRM and service-desk REST APIs (`salesdw serve-sources`)."""

from salesdw_dev.simulate.server import DEFAULT_PORT, SourcesServer, add_arguments, run, start_in_thread

__all__ = ["DEFAULT_PORT", "SourcesServer", "add_arguments", "run", "start_in_thread"]
