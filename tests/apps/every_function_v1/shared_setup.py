"""Imported by every function of this v1 app: the two lines that set funcscope up."""

import funcscope

funcscope.configure()
