"""Imported by every function of the app: a recording extension on each side of funcscope's.

Registration order is import order: AppFirst, then funcscope's FuncScopeExtension, then AppLast.
"""

import rwrecord

import funcscope

AppFirst = rwrecord.app_recorder("AppFirst", __name__)
funcscope.configure()
AppLast = rwrecord.app_recorder("AppLast", __name__)
