"""Application-level extensions (`AppExtensionBase`): they register when their module is imported."""
