"""salesdw's development and test doubles: the simulated source systems (simulate/: the CRM and
service-desk APIs, in salesdw's own and the vendors' shapes) and the sample-data generator
(generate/). Not part of the `salesdw` package a production install carries: they ship with the
checkout (`make install`, which installs the `dev` extra's dependencies), not in the wheel or the
image."""
