"""Train and check: short runs that test whether a schedule really helps, over several seeds.

form (train_form) -> the library's compare (train_run) -> results (train_results).
"""

import train_form
import train_results
import train_run

setup = train_form.form(running=train_run.session_busy())
train_run.show_estimate(setup)  # the library's cost model, before Start
if setup.start:
    train_run.run(setup)
busy = train_run.watch()  # the session's run in the worker pool: queue place, progress, results
train_results.show(hint=not busy)  # no "press Start" under a run that is queued or running
