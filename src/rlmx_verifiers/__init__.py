"""The verifiers plugin package for rlmx: ``vf-eval rlmx-verifiers`` finds the taskset and
its harness here (verifiers imports a plugin id as a top-level module exporting them in
``__all__``). The implementation is ``rlmx.training.verifiers_env``."""

from rlmx.training.verifiers_env import RLMXEnv, RLMXHarness, RLMXTaskset

__all__ = ["RLMXEnv", "RLMXHarness", "RLMXTaskset"]
