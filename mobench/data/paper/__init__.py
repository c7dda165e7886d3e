"""Paper-scale machinery shared by several tasks: prompt selection and serving helpers
(:mod:`~mobench.data.paper.common`), PKU-SafeRLHF with the beaver models
(:mod:`~mobench.data.paper.pku`)."""
