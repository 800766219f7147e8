"""Record gradient norms in, and put schedules back into, the training stacks people use.

- :mod:`lrcore.integrations.hf`: a Hugging Face ``TrainerCallback`` and
  ``use_schedule(trainer, log)``, which keeps the optimizer the Trainer builds and
  attaches only the refined schedule (``pip install lrcore[hf]``).
- :mod:`lrcore.integrations.lightning`: a Lightning ``Callback`` and the scheduler
  config ``configure_optimizers`` returns, which leaves your optimizer as built
  (``pip install lrcore[lightning]``).

Either way run 2 is run 1 but for the schedule: the framework (or your code) builds the
optimizer, lrcore sets only each group's lr.

Both write ``grad_norms.csv`` (``step,grad_norm_l2,grad_norm_l1``) that ``load_log`` and
``lrcore refine`` read. Import the submodule you need: this package imports neither
framework.
"""

from lrcore.integrations._common import schedule_values

__all__ = ["schedule_values"]
