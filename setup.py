"""Which packages the wheel holds: the library (found under lrcore/), and the dashboard as
``lrcore._app`` with what it reads (the sample logs, the study's results.csv, its Streamlit
settings), so that ``lrcore app`` serves the same dashboard from an installed package while
``streamlit run app/main.py`` keeps working in a checkout. Everything else is in pyproject.toml.

pyproject.toml alone cannot say this: its package finder and a list of mapped folders
exclude each other, and a hand-kept list would miss a package added to lrcore/.
"""

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

# package in the wheel -> folder in the checkout (the app finds its data in both layouts)
APP = {
    "lrcore._app": "app",
    "lrcore._app.app_pages": "app/app_pages",
    "lrcore._app.sample_runs": "sample_runs",
    "lrcore._app.docs": "docs",
    "lrcore._app.streamlit": ".streamlit",
}
DATA = {
    "lrcore": ["py.typed"],
    "lrcore._app.app_pages": ["*.md"],
    "lrcore._app.sample_runs": ["README.md", "*.csv", "*.json", "*.jsonl", "*_tensorboard/*"],
    "lrcore._app.docs": ["results.csv"],
    "lrcore._app.streamlit": ["config.toml"],
}
EXCLUDE = {"lrcore._app.sample_runs": ["synthetic_1m*"]}  # generated locally, 25 MB
DATA_ONLY = {"lrcore._app.sample_runs", "lrcore._app.docs", "lrcore._app.streamlit"}


class BuildPy(build_py):
    """Data-only folders ship their data, not their scripts (make_samples.py,
    make_screenshots.py)."""

    def find_package_modules(self, package, package_dir):
        if package in DATA_ONLY:
            return []
        return super().find_package_modules(package, package_dir)


setup(
    packages=[*find_packages(include=["lrcore", "lrcore.*"]), *APP],
    package_dir=APP,
    package_data=DATA,
    exclude_package_data=EXCLUDE,
    cmdclass={"build_py": BuildPy},
)
