"""Train and check: short runs that test whether a schedule really helps, over several seeds.

form (train_form) -> the library's compare (train_run) -> results (train_results).
"""

import train_form
import train_results
import train_run

setup = train_form.form()
train_run.show_estimate(setup)  # the library's cost model, before Start
if setup.start:
    train_run.run(setup)
train_results.show()
