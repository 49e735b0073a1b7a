"""The SDXL runner: diffusers in a supervised, long-lived child process.

Nothing here imports torch at module level except `child.py`, `pipelines.py`,
`schedulers.py` and `demo_model.py`, which run only inside the child process or the
admin CLI; the API process never imports this package's torch side.
"""
