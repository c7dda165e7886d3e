"""The run flow: what a run is (:mod:`~mobench.run.runspec`), guarding its folder
(:mod:`~mobench.run.runfolder`), training and evaluating it (:mod:`~mobench.run.runner`,
:mod:`~mobench.run.evaluation`, :mod:`~mobench.run.evalrun`), what is written after
(:mod:`~mobench.run.results`, :mod:`~mobench.run.fronts`, :mod:`~mobench.run.plots`), sweeps of
runs (:mod:`~mobench.run.sweep`), serving a saved policy (:mod:`~mobench.run.saved_policy`,
:mod:`~mobench.run.export`), the user's inputs (:mod:`~mobench.run.inputs`) and provenance
(:mod:`~mobench.run.provenance`). It stands above methods and tasks, which it runs by name."""
