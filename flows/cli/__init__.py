"""The command line: arguments, the commands, predict, and the bundled demo data."""
