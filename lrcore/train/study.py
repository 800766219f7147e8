"""Moved to :mod:`lrcore.study` (problems, statistics, run, result, report).

Only kept so that pickles written by ``lrcore study --pickle`` before the move, which name
``lrcore.train.study.StudyResult``, still load. New code imports :mod:`lrcore.study`."""

from lrcore.study.problems import Problem
from lrcore.study.result import ProblemResult, StudyResult

__all__ = ["Problem", "ProblemResult", "StudyResult"]
