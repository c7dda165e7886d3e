"""The contracts and what every layer stands on: the specs (:mod:`~mobench.core.specs`), the method,
policy and task contracts (:mod:`~mobench.core.method`, :mod:`~mobench.core.policy`,
:mod:`~mobench.core.task`), the registry (:mod:`~mobench.core.registry`), configs
(:mod:`~mobench.core.config`), errors (:mod:`~mobench.core.errors`), cost metering
(:mod:`~mobench.core.cost`), the run-folder store (:mod:`~mobench.core.store`), progress output
(:mod:`~mobench.core.progress`) and torch threads (:mod:`~mobench.core.threads`). It imports
nothing else of mobench; a plugin finds its contracts re-exported from :mod:`mobench`."""
