"""Function-level extensions (`FuncExtensionBase`): they register when instantiated with a function's `__file__`."""
