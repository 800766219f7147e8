"""Record gradient norms in, and put schedules back into, the training stacks people use.

- :mod:`lrcore.integrations.hf`: a Hugging Face ``TrainerCallback`` and the
  ``(optimizer, scheduler)`` pair a ``Trainer`` takes (``pip install lrcore[hf]``).
- :mod:`lrcore.integrations.lightning`: a Lightning ``Callback`` and the scheduler
  config ``configure_optimizers`` returns (``pip install lrcore[lightning]``).

Both write ``grad_norms.csv`` (``step,grad_norm_l2,grad_norm_l1``) that ``load_log`` and
``lrcore refine`` read. Import the submodule you need: this package imports neither
framework.
"""

from lrcore.integrations._common import schedule_values

__all__ = ["schedule_values"]
