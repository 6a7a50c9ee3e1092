"""The ``shoprank`` command line: one command, one module per subcommand."""
