"""The core of rlmx: a run's settings (``config.py``), its lifecycle (``rlm.py``), its root
turns (``turns.py``) and host calls (``host_calls.py``, ``host_functions.py``) over a
workspace (``workspace.py``, ``session.py``), the budget ledger and LM gateway, events and
results, and what a prompt style decides (``policy.py``, ``prompts.py``, ``repairs.py``).
See docs/ARCHITECTURE.md."""
