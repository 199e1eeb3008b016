"""Imported by every function of this v1 app: funcscope's two lines live here once."""

import funcscope

funcscope.configure()
