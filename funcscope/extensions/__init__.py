"""Worker extensions. Importing a module below registers its extension with `azure.functions`; this package
itself imports none of them."""
